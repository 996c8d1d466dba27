#!/usr/bin/python3
"""Writes tests/fixtures/torch_reference.safetensors: inputs, weights, outputs and gradients computed by PyTorch for
ember's cross-check (tests/interop/test_pytorch.cpp).

Needs Debian's python3-torch (apt-get install python3-torch); only to regenerate the committed fixture, never to
build or test. Run from anywhere with the system Python (a pyenv `python3` on PATH has no torch):
    /usr/bin/python3 tools/make_torch_fixtures.py
The output is deterministic (fixed seed, float64 on the CPU): rerunning it with the same torch rewrites the same bytes.

Everything is stored in ember's layouts, which is the interop contract:
  images NHWC            PyTorch NCHW:            x.permute(0, 3, 1, 2)
  conv kernels HWIO      PyTorch Conv2d.weight OIHW: w.permute(2, 3, 1, 0)   (ember -> PyTorch: permute(3, 2, 0, 1))
  Dense kernel [in, out] PyTorch Linear.weight [out, in]: transposed
  Flatten of NHWC        PyTorch flattens NCHW, so the Linear weight after a Flatten also has its input rows
                         reordered from (C, H, W) to (H, W, C): see ember_state() below.
TensorFlow's 'same' padding (ember's) is an explicit F.pad with the extra row/column at the bottom/right; PyTorch's
own padding='same' agrees only for stride 1 and odd kernels (used in the model, where it applies).
Gradients of the single-op cases are those of a weighted sum  L = sum(y * r)  with a fixed random r ('<case>.r'),
so that every output element gets its own upstream gradient. Labels are I64, everything else F64.
"""
import math
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fixture_writer import write_safetensors  # noqa: E402

torch.manual_seed(1234)
torch.set_default_dtype(torch.float64)
tensors = {}


def put(name, t):
    assert name not in tensors, name
    t = t.detach().contiguous()
    tensors[name] = t if t.dtype == torch.int64 else t.to(torch.float64)


def tf_same_pads(size, k, stride):
    """TensorFlow's 'same': out = ceil(size / stride); the odd pixel of the total goes after (bottom/right)."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + k - size, 0)
    return total // 2, total - total // 2


def conv_nhwc(x, w, b, stride, padding, relu):
    """x NHWC, w HWIO -> y NHWC, with TensorFlow's padding; stride is (sh, sw)."""
    xc = x.permute(0, 3, 1, 2)
    if padding == "same":
        top, bottom = tf_same_pads(x.shape[1], w.shape[0], stride[0])
        left, right = tf_same_pads(x.shape[2], w.shape[1], stride[1])
        xc = F.pad(xc, (left, right, top, bottom))
    y = F.conv2d(xc, w.permute(3, 2, 0, 1), b, stride=stride)
    if relu:
        y = torch.relu(y)
    return y.permute(0, 2, 3, 1)


def max_pool_nhwc(x):
    return F.max_pool2d(x.permute(0, 3, 1, 2), 2).permute(0, 2, 3, 1)


def grads_of(name, y, inputs):
    r = torch.rand_like(y) * 2 - 1
    put(name + ".r", r)
    put(name + ".y", y)
    (y * r).sum().backward()
    for key, t in inputs.items():
        put(name + ".d" + key, t.grad)


def uniform(shape, lo=-1.0, hi=1.0):
    return (torch.rand(shape) * (hi - lo) + lo).requires_grad_()


# (a) conv2d, NHWC x HWIO, on odd sizes. 'same' pads (top, bottom) x (left, right):
#   conv_same5      7x9, 5x5, s1         -> (2, 2) x (2, 2), fused relu
#   conv_even4_s2   7x9, 4x4, s2         -> (1, 2) x (1, 2): the extra row and column at the bottom/right
#   conv_rect_s12   5x8, 2x3, s(1, 2)    -> (0, 1) x (0, 1), fused relu
#   conv_valid3_s2  9x7, 3x3, s2 'valid' -> 4x3
#   conv_nobias     5x6, 2x2, s1 'valid', no bias (Keras use_bias=False)
CONV_CASES = [
    ("conv_same5", (2, 7, 9, 3), (5, 5, 3, 4), (1, 1), "same", True, True),
    ("conv_even4_s2", (1, 7, 9, 2), (4, 4, 2, 3), (2, 2), "same", False, True),
    ("conv_rect_s12", (2, 5, 8, 3), (2, 3, 3, 4), (1, 2), "same", True, True),
    ("conv_valid3_s2", (2, 9, 7, 3), (3, 3, 3, 5), (2, 2), "valid", False, True),
    ("conv_nobias", (1, 5, 6, 3), (2, 2, 3, 2), (1, 1), "valid", False, False),
]
for name, x_shape, w_shape, stride, padding, relu, has_bias in CONV_CASES:
    x, w = uniform(x_shape), uniform(w_shape)
    inputs = {"x": x, "w": w}
    put(name + ".x", x)
    put(name + ".w", w)
    b = None
    if has_bias:
        b = uniform(w_shape[3], -0.2, 0.2)
        inputs["b"] = b
        put(name + ".b", b)
    grads_of(name, conv_nhwc(x, w, b, stride, padding, relu), inputs)

# (b) max pooling 2x2, stride 2, 'valid' (floor) on odd sizes: 9x7 -> 4x3 and the reference model's 45 -> 22;
# pool_ties has integer values, so windows hold equal maxima: PyTorch routes the gradient to the first one in
# row-major window order, as ember does.
for name, shape, ties in [("pool", (2, 9, 7, 3), False), ("pool45", (1, 45, 23, 2), False),
                          ("pool_ties", (2, 6, 5, 2), True)]:
    x = torch.floor(torch.rand(shape) * 3) if ties else torch.rand(shape)
    x.requires_grad_()
    put(name + ".x", x)
    grads_of(name, max_pool_nhwc(x), {"x": x})

# (c) dense: y = x W + b with W [in, out] (PyTorch: F.linear(x, W.t(), b))
x, w, b = uniform((4, 6)), uniform((6, 5)), uniform(5)
for k, t in {"x": x, "w": w, "b": b}.items():
    put("dense." + k, t)
grads_of("dense", F.linear(x, w.t(), b), {"x": x, "w": w, "b": b})

# (d) sparse categorical cross-entropy on logits, mean over the batch. Class weights follow Keras (they act as
# sample weights and the batch is reduced with sum / N), not PyTorch's weighted mean (sum / sum of weights).
# loss_large has logits of order 1e3, where log(softmax) would overflow without the fused log-sum-exp.
labels = torch.tensor([0, 4, 2, 2, 1, 3])
put("loss.labels", labels)
for name, scale in [("loss", 3.0), ("loss_large", 1000.0)]:
    logits = (torch.randn(6, 5) * scale).requires_grad_()
    put(name + ".logits", logits)
    loss = F.cross_entropy(logits, labels)
    loss.backward()
    put(name + ".value", loss)
    put(name + ".dlogits", logits.grad)
cw = torch.tensor([0.5, 2.0, 1.0, 3.0, 0.25])
logits = tensors["loss.logits"].clone().requires_grad_()
wloss = (F.cross_entropy(logits, labels, reduction="none") * cw[labels]).sum() / labels.numel()
wloss.backward()
assert not torch.isclose(wloss, F.cross_entropy(logits, labels, weight=cw))  # the two conventions differ here
put("loss.class_weights", cw)
put("loss.weighted_value", wloss)
put("loss.weighted_dlogits", logits.grad)


# (e) a reduced reference model, written as a PyTorch user would (NCHW, nn.Conv2d, nn.Linear, NCHW Flatten), in
# eval mode so that its Dropout is the identity. ember's model: Rescaling(1/255), Conv2D(4, 5, same, relu),
# Conv2D(4, 5, same, relu), MaxPool2D(2), Conv2D(8, 5, same, relu), MaxPool2D(2), Dropout(0.25), Flatten, Dense(3).
class Reduced(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv2d = torch.nn.Conv2d(3, 4, 5, padding="same")
        self.conv2d_1 = torch.nn.Conv2d(4, 4, 5, padding="same")
        self.conv2d_2 = torch.nn.Conv2d(4, 8, 5, padding="same")
        self.dropout = torch.nn.Dropout(0.25)
        self.dense = torch.nn.Linear(8 * 5 * 5, 3)

    def forward(self, images_nhwc):
        h = images_nhwc.permute(0, 3, 1, 2) / 255
        h = torch.relu(self.conv2d(h))
        h = F.max_pool2d(torch.relu(self.conv2d_1(h)), 2)
        h = F.max_pool2d(torch.relu(self.conv2d_2(h)), 2)
        return self.dense(torch.flatten(self.dropout(h), 1))


def ember_state(module, values, pooled_chw):
    """PyTorch parameter tensors (values: name -> tensor of the parameter's shape) -> ember's names and layouts."""
    out = {}
    for name, p in module.named_parameters():
        layer, kind = name.split(".")
        t = values[name]
        if kind == "bias":
            out[layer + ".bias"] = t
        elif isinstance(getattr(module, layer), torch.nn.Conv2d):
            out[layer + ".kernel"] = t.permute(2, 3, 1, 0)  # OIHW -> HWIO
        else:  # Linear [out, C*H*W] -> ember Dense kernel [H*W*C, out]
            c, h, w = pooled_chw
            out[layer + ".kernel"] = t.reshape(-1, c, h, w).permute(2, 3, 1, 0).reshape(h * w * c, -1)
    return out


model = Reduced().eval()  # PyTorch's default initialisation
images = torch.floor(torch.rand(2, 20, 20, 3) * 256)
labels = torch.tensor([0, 2])
logits = model(images)
loss = F.cross_entropy(logits, labels)
loss.backward()
params = ember_state(model, dict(model.named_parameters()), (8, 5, 5))
grads = ember_state(model, {n: p.grad for n, p in model.named_parameters()}, (8, 5, 5))

# The layouts map 1:1: ember's computation (NHWC, HWIO, TensorFlow padding, NHWC Flatten, x W + b) with the
# converted weights reproduces the PyTorch module's logits.
with torch.no_grad():
    h = images / 255
    h = conv_nhwc(h, params["conv2d.kernel"], params["conv2d.bias"], (1, 1), "same", True)
    h = max_pool_nhwc(conv_nhwc(h, params["conv2d_1.kernel"], params["conv2d_1.bias"], (1, 1), "same", True))
    h = max_pool_nhwc(conv_nhwc(h, params["conv2d_2.kernel"], params["conv2d_2.bias"], (1, 1), "same", True))
    again = h.reshape(2, -1) @ params["dense.kernel"] + params["dense.bias"]
    assert torch.allclose(again, logits, rtol=1e-12, atol=1e-12), (again - logits).abs().max()

put("model.images", images)
put("model.labels", labels)
put("model.logits", logits)
put("model.loss", loss)
for k in params:
    put("model." + k, params[k])
    put("model.grad." + k, grads[k])

write_safetensors(tensors, Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "torch_reference.safetensors", {
    "generator": "tools/make_torch_fixtures.py",
    "torch": torch.__version__,
    "layouts": "NHWC images, HWIO conv kernels, Dense kernels [in, out], NHWC Flatten",
})
