#!/usr/bin/python3
"""Writes tests/fixtures/torch_activations_losses.safetensors: inputs, values and input gradients computed by PyTorch
for ember's activations and classification losses on logits (tests/interop/test_pytorch_activations_losses.cpp).

Needs Debian's python3-torch (apt-get install python3-torch); only to regenerate the committed fixture, never to
build or test. Run from anywhere with the system Python (a pyenv `python3` on PATH has no torch):
    /usr/bin/python3 tools/make_torch_fixtures_activations_losses.py
The output is deterministic (fixed seed, float64 on the CPU): rerunning it with the same torch rewrites the same bytes.

Activations ('act.<name>'): y = f(x) and the gradient of L = sum(y * r), with a fixed random r, on x holding random
values in [-6, 6] and the extremes +-50, +-20, +-1e-3 and 0. PyTorch's leaky_relu, sigmoid, tanh, gelu
(approximate='none' and 'tanh') and silu (Keras' swish).

Losses ('<loss>.<case>'): the value and the gradient with respect to the logits, mean reduction. Class weights follow
Keras' class_weight (each element's loss times the weight of its target class, then sum / count):
  bce    F.binary_cross_entropy_with_logits with weight = w0 (1 - t) + w1 t, targets smoothed as Keras does,
         t (1 - e) + 0.5 e, and the weight taken from the unsmoothed target;
  bfocal Keras' BinaryFocalCrossentropy(from_logits=True) written out with torch ops and differentiated by autograd;
  sfocal Keras' CategoricalFocalCrossentropy(from_logits=True) on class-index labels, -alpha (1 - p_y)^gamma log p_y,
         log p_y from log_softmax, times the class weight of y, mean over rows.
Labels are I64, everything else F64.
"""
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fixture_writer import write_safetensors  # noqa: E402

torch.manual_seed(4343)
torch.set_default_dtype(torch.float64)
tensors = {}


def put(name, t):
    assert name not in tensors, name
    t = torch.as_tensor(t).detach().contiguous()
    tensors[name] = t if t.dtype == torch.int64 else t.to(torch.float64)


# Activations, on one input with its extremes.
x = torch.cat([torch.rand(40) * 12 - 6, torch.tensor([-50.0, -20.0, -1e-3, 0.0, 1e-3, 20.0, 50.0])])
r = torch.rand_like(x) * 2 - 1
put("act.x", x)
put("act.r", r)
ACTIVATIONS = {
    "leaky_relu_0.3": lambda v: F.leaky_relu(v, 0.3),
    "leaky_relu_0.01": lambda v: F.leaky_relu(v, 0.01),
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "gelu": lambda v: F.gelu(v, approximate="none"),
    "gelu_tanh": lambda v: F.gelu(v, approximate="tanh"),
    "swish": F.silu,
}
for name, f in ACTIVATIONS.items():
    leaf = x.clone().requires_grad_()
    y = f(leaf)
    (y * r).sum().backward()
    put(f"act.{name}.y", y)
    put(f"act.{name}.dx", leaf.grad)


def loss_case(prefix, logits, fn):
    leaf = logits.clone().requires_grad_()
    value = fn(leaf)
    value.backward()
    put(prefix + ".value", value)
    put(prefix + ".dz", leaf.grad)


def smooth(t, e):
    return t * (1 - e) + 0.5 * e


def class_weight(t, w):
    return torch.ones_like(t) if w is None else w[0] * (1 - t) + w[1] * t


# Binary cross-entropy: hard targets [6, 1] (Keras' one-output classifier), soft multi-label targets [4, 3], and
# logits at +-50 and +-1e3 where a naive log(sigmoid) would give inf.
w2 = torch.tensor([0.4, 2.5])
put("binary.w", w2)
z_hard, t_hard = torch.randn(6, 1) * 3, torch.tensor([[0.0], [1.0], [1.0], [0.0], [1.0], [0.0]])
z_soft, t_soft = torch.randn(4, 3) * 3, torch.rand(4, 3)
t_soft[0, :] = torch.tensor([0.0, 1.0, 1.0])
z_far, t_far = torch.tensor([[50.0], [-50.0], [1e3], [-1e3], [50.0], [-1e3]]), t_hard.clone()
for key, z, t in [("hard", z_hard, t_hard), ("soft", z_soft, t_soft), ("far", z_far, t_far)]:
    put(f"binary.{key}.z", z)
    put(f"binary.{key}.t", t)
BCE_CASES = [("hard", None, 0.0), ("hard_weighted", w2, 0.0), ("soft_smoothed", None, 0.2),
             ("soft_weighted_smoothed", w2, 0.1), ("far", None, 0.0), ("far_weighted", w2, 0.0)]
for case, w, e in BCE_CASES:
    key = case.split("_")[0]
    z, t = tensors[f"binary.{key}.z"], tensors[f"binary.{key}.t"]
    loss_case(f"bce.{case}", z, lambda leaf, t=t, w=w, e=e: F.binary_cross_entropy_with_logits(
        leaf, smooth(t, e), weight=class_weight(t, w)))


def binary_focal(leaf, t_raw, w, gamma, alpha, balancing, e):
    """Keras' binary_focal_crossentropy(from_logits=True), with the cross-entropy taken on the logits."""
    t = smooth(t_raw, e)
    p = torch.sigmoid(leaf)
    bce = F.binary_cross_entropy_with_logits(leaf, t, reduction="none")
    p_t = t * p + (1 - t) * (1 - p)
    loss = (1 - p_t) ** gamma * bce
    if balancing:
        loss = loss * (t * alpha + (1 - t) * (1 - alpha))
    return (loss * class_weight(t_raw, w)).mean()


# (gamma, alpha, apply_class_balancing, label_smoothing, weights, targets)
FOCAL_CASES = [("defaults", 2.0, 0.25, False, 0.0, None, "hard"), ("balanced_gamma0.5", 0.5, 0.3, True, 0.0, None, "hard"),
               ("weighted", 2.0, 0.25, False, 0.0, w2, "hard"), ("soft_all", 3.0, 0.6, True, 0.1, w2, "soft")]
for case, gamma, alpha, balancing, e, w, key in FOCAL_CASES:
    z, t = tensors[f"binary.{key}.z"], tensors[f"binary.{key}.t"]
    loss_case(f"bfocal.{case}", z,
              lambda leaf, t=t, w=w, g=gamma, a=alpha, b=balancing, e=e: binary_focal(leaf, t, w, g, a, b, e))

# Sparse categorical focal cross-entropy on logits [7, 4] with class-index labels.
z_cat = torch.randn(7, 4) * 2
labels = torch.tensor([0, 3, 1, 1, 2, 0, 3])
w4 = torch.tensor([0.5, 2.0, 1.0, 3.0])
put("categorical.z", z_cat)
put("categorical.labels", labels)
put("categorical.w", w4)


def sparse_focal(leaf, w, gamma, alpha):
    log_p = F.log_softmax(leaf, dim=1).gather(1, labels[:, None])[:, 0]
    loss = -alpha * (1 - log_p.exp()) ** gamma * log_p
    return (loss * (1 if w is None else w[labels])).mean()


for case, gamma, alpha, w in [("defaults", 2.0, 0.25, None), ("weighted_gamma0.5", 0.5, 0.25, w4),
                              ("gamma0_alpha1", 0.0, 1.0, None), ("weighted_gamma3", 3.0, 0.7, w4)]:
    loss_case(f"sfocal.{case}", z_cat, lambda leaf, w=w, g=gamma, a=alpha: sparse_focal(leaf, w, g, a))

write_safetensors(tensors, Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "torch_activations_losses.safetensors",
                  {"generator": "tools/make_torch_fixtures_activations_losses.py", "torch": torch.__version__})
