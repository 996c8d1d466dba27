#!/usr/bin/python3
"""Writes tests/fixtures/torch_dilation.safetensors: dilated 2-D convolutions computed by PyTorch 1.13 in float64, for
ember's cross-check (tests/interop/test_pytorch_dilation.cpp).

Needs Debian's python3-torch; only to regenerate the committed fixture. Run: /usr/bin/python3 tools/make_torch_fixtures_dilation.py
Deterministic (fixed seed, float64 on the CPU). Layouts are ember's: NHWC images, HWIO kernels. TensorFlow's 'same'
padding of a dilated kernel is that of its effective extent (k - 1) * d + 1, the odd pixel after (bottom/right).
Gradients are those of L = sum(y * r) with a fixed random r ('<case>.r').
"""
import math
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fixture_writer import write_safetensors  # noqa: E402

torch.manual_seed(777)
torch.set_default_dtype(torch.float64)
tensors = {}


def put(name, t):
    assert name not in tensors, name
    tensors[name] = t.detach().clone()


def same_pads(size, extent):
    total = max((math.ceil(size / 1) - 1) + extent - size, 0)  # stride 1
    return total // 2, total - total // 2


def case(name, x_shape, w_shape, dilation, padding, relu):
    x = (torch.rand(x_shape) * 2 - 1).requires_grad_()
    w = (torch.rand(w_shape) * 2 - 1).requires_grad_()
    b = (torch.rand(w_shape[3]) * 0.4 - 0.2).requires_grad_()
    for k, t in {"x": x, "w": w, "b": b}.items():
        put(f"{name}.{k}", t)
    xc = x.permute(0, 3, 1, 2)
    if padding == "same":
        top, bottom = same_pads(x_shape[1], (w_shape[0] - 1) * dilation[0] + 1)
        left, right = same_pads(x_shape[2], (w_shape[1] - 1) * dilation[1] + 1)
        xc = F.pad(xc, (left, right, top, bottom))
    y = F.conv2d(xc, w.permute(3, 2, 0, 1), b, dilation=dilation).permute(0, 2, 3, 1)
    if relu:
        y = torch.relu(y)
    r = torch.rand_like(y) * 2 - 1
    put(f"{name}.r", r)
    put(f"{name}.y", y)
    (y * r).sum().backward()
    for k, t in {"x": x, "w": w, "b": b}.items():
        put(f"{name}.d{k}", t.grad)


case("same_d2", (2, 9, 8, 3), (3, 3, 3, 4), (2, 2), "same", False)         # even total padding
case("same_d3x2_even", (1, 7, 10, 2), (2, 3, 2, 3), (3, 2), "same", True)  # odd total: extra row/column after
case("valid_d2", (2, 9, 11, 2), (3, 3, 2, 2), (2, 2), "valid", False)

write_safetensors(tensors, Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "torch_dilation.safetensors",
                  {"generator": "tools/make_torch_fixtures_dilation.py", "torch": torch.__version__,
                   "layouts": "NHWC images, HWIO kernels"})
