#!/usr/bin/python3
"""Writes tests/fixtures/torch_batch_norm.safetensors: batch normalization computed by PyTorch 1.13 in float64, for
ember's cross-check (tests/interop/test_pytorch_batch_norm.cpp).

Needs Debian's python3-torch; only to regenerate the committed fixture. Run: /usr/bin/python3 tools/make_torch_fixtures_batch_norm.py
Deterministic (fixed seed, float64 on the CPU). Layouts are ember's: NHWC, channels last.

Keras and PyTorch agree on the normalization (biased batch variance in training) but not on the moving variance:
PyTorch stores the unbiased variance (times n / (n - 1)) and its momentum is Keras' 1 - momentum. The expected
Keras moving statistics are therefore computed here from the batch moments, not read from PyTorch's buffers.
Gradients are those of L = sum(y * r) with a fixed random r ('<case>.r').
"""
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fixture_writer import write_safetensors  # noqa: E402

torch.manual_seed(4321)
torch.set_default_dtype(torch.float64)
tensors = {}
MOMENTUM, EPS = 0.99, 1e-3


def put(name, t):
    assert name not in tensors, name
    tensors[name] = t.detach().clone()


def case(name, x_shape, train):
    c = x_shape[-1]
    x = (torch.rand(x_shape) * 4 - 1).requires_grad_()
    gamma = (torch.rand(c) + 0.5).requires_grad_()
    beta = (torch.rand(c) - 0.5).requires_grad_()
    moving_mean, moving_var = torch.rand(c) - 0.5, torch.rand(c) + 0.5
    for k, t in {"x": x, "gamma": gamma, "beta": beta, "moving_mean": moving_mean, "moving_variance": moving_var}.items():
        put(f"{name}.{k}", t)
    xc = x.reshape(-1, c)  # channels last: every other axis is the batch of the statistics
    y = F.batch_norm(xc, moving_mean.clone(), moving_var.clone(), gamma, beta, training=train,
                     momentum=1 - MOMENTUM, eps=EPS).reshape(x_shape)
    r = torch.rand_like(y) * 2 - 1
    put(f"{name}.r", r)
    put(f"{name}.y", y)
    (y * r).sum().backward()
    for k, t in {"x": x, "gamma": gamma, "beta": beta}.items():
        put(f"{name}.d{k}", t.grad)
    if train:
        mean, var = xc.mean(0), xc.var(0, unbiased=False)
        put(f"{name}.new_moving_mean", moving_mean * MOMENTUM + mean * (1 - MOMENTUM))
        put(f"{name}.new_moving_variance", moving_var * MOMENTUM + var * (1 - MOMENTUM))


case("train_nhwc", (3, 5, 4, 6), True)   # after a convolution
case("train_dense", (7, 5), True)        # after a Dense layer
case("eval_nhwc", (2, 4, 3, 3), False)   # inference: the moving statistics, unchanged

write_safetensors(tensors, Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "torch_batch_norm.safetensors",
                  {"generator": "tools/make_torch_fixtures_batch_norm.py", "torch": torch.__version__,
                   "layouts": "NHWC, channels last"})
