#!/usr/bin/python3
"""Writes tests/fixtures/torch_reference.safetensors: inputs, weights, outputs and gradients computed by PyTorch for
ember's cross-check (tests/interop/test_pytorch.cpp).

Needs Debian's python3-torch (apt-get install python3-torch); only to regenerate the committed fixture, never to
build or test. Run from the repository root:  /usr/bin/python3 tools/make_torch_fixtures.py

Everything is float64 and in ember's layouts, which is the interop contract:
  images NHWC (PyTorch: NCHW, permute(0, 3, 1, 2)); conv kernels HWIO [KH, KW, C_in, C_out] (PyTorch: OIHW,
  permute(3, 2, 0, 1)); Dense kernels [in, out] (PyTorch Linear.weight is [out, in], transposed);
  Flatten flattens NHWC (PyTorch: permute to NHWC first, so that Dense weights map 1:1).
TensorFlow's 'same' padding is done with an explicit F.pad: the extra row/column goes to the bottom/right.
Gradients are those of a weighted sum  L = sum(y * r)  with a fixed random r (stored as '<case>.r').
"""
import json
import math
import struct
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

torch.manual_seed(1234)
torch.set_default_dtype(torch.float64)
tensors = {}


def put(name, t):
    tensors[name] = t.detach().to(torch.float64).contiguous()


def tf_same_pads(size, k, stride):
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + k - size, 0)
    return total // 2, total - total // 2


def conv_nhwc(x, w, b, stride, padding, relu):
    """x NHWC, w HWIO -> y NHWC, with TensorFlow's padding."""
    xc = x.permute(0, 3, 1, 2)
    if padding == "same":
        top, bottom = tf_same_pads(x.shape[1], w.shape[0], stride)
        left, right = tf_same_pads(x.shape[2], w.shape[1], stride)
        xc = F.pad(xc, (left, right, top, bottom))
    y = F.conv2d(xc, w.permute(3, 2, 0, 1), b, stride=stride)
    if relu:
        y = torch.relu(y)
    return y.permute(0, 2, 3, 1)


def grads_of(name, y, inputs):
    r = torch.rand_like(y) * 2 - 1
    put(name + ".r", r)
    put(name + ".y", y)
    (y * r).sum().backward()
    for key, t in inputs.items():
        put(name + ".d" + key, t.grad)


def conv_case(name, x_shape, w_shape, stride, padding, relu):
    x = (torch.rand(x_shape) * 2 - 1).requires_grad_()
    w = (torch.rand(w_shape) * 2 - 1).requires_grad_()
    b = (torch.rand(w_shape[3]) * 0.4 - 0.2).requires_grad_()
    put(name + ".x", x)
    put(name + ".w", w)
    put(name + ".b", b)
    grads_of(name, conv_nhwc(x, w, b, stride, padding, relu), {"x": x, "w": w, "b": b})


conv_case("conv_same5", (2, 7, 9, 3), (5, 5, 3, 4), 1, "same", True)
conv_case("conv_even4_s2", (1, 8, 9, 2), (4, 4, 2, 3), 2, "same", False)
conv_case("conv_valid3_s2", (2, 9, 7, 3), (3, 3, 3, 5), 2, "valid", False)

# max pooling 2x2, stride 2, 'valid' on odd sizes (floor)
x = torch.rand(2, 9, 7, 3).requires_grad_()
put("pool.x", x)
grads_of("pool", F.max_pool2d(x.permute(0, 3, 1, 2), 2).permute(0, 2, 3, 1), {"x": x})

# dense: y = x W + b with W [in, out]
x = (torch.rand(4, 6) * 2 - 1).requires_grad_()
w = (torch.rand(6, 5) * 2 - 1).requires_grad_()
b = (torch.rand(5) * 2 - 1).requires_grad_()
for k, t in {"x": x, "w": w, "b": b}.items():
    put("dense." + k, t)
grads_of("dense", F.linear(x, w.t(), b), {"x": x, "w": w, "b": b})

# sparse categorical cross-entropy on logits: mean over the batch; with class weights in Keras' semantics
# (per-sample weights, divided by N - PyTorch's weighted mean would divide by the sum of the weights)
logits = (torch.randn(6, 5) * 3).requires_grad_()
labels = torch.tensor([0, 4, 2, 2, 1, 3])
put("loss.logits", logits)
put("loss.labels", labels.to(torch.float64))
loss = F.cross_entropy(logits, labels)
loss.backward()
put("loss.value", loss.reshape(1))
put("loss.dlogits", logits.grad)
cw = torch.tensor([0.5, 2.0, 1.0, 3.0, 0.25])
logits2 = logits.detach().clone().requires_grad_()
wloss = (F.cross_entropy(logits2, labels, reduction="none") * cw[labels]).sum() / labels.numel()
wloss.backward()
put("loss.class_weights", cw)
put("loss.weighted_value", wloss.reshape(1))
put("loss.weighted_dlogits", logits2.grad)

# a reduced reference model: Rescaling(1/255) -> Conv(4,5,same,relu) -> Conv(4,5,same,relu) -> MaxPool 2 ->
# Conv(8,5,same,relu) -> MaxPool 2 -> Flatten -> Dense(3), batch 2 of 20x20x3 images, labels [0, 2]
images = torch.floor(torch.rand(2, 20, 20, 3) * 256)
labels = torch.tensor([0, 2])
params = {}
for name, shape in [("conv2d", (5, 5, 3, 4)), ("conv2d_1", (5, 5, 4, 4)), ("conv2d_2", (5, 5, 4, 8))]:
    fan_in, fan_out = shape[0] * shape[1] * shape[2], shape[0] * shape[1] * shape[3]
    lim = math.sqrt(6 / (fan_in + fan_out))
    params[name + ".kernel"] = ((torch.rand(shape) * 2 - 1) * lim).requires_grad_()
    params[name + ".bias"] = (torch.rand(shape[3]) * 0.1).requires_grad_()
params["dense.kernel"] = ((torch.rand(5 * 5 * 8, 3) * 2 - 1) * 0.1).requires_grad_()
params["dense.bias"] = (torch.rand(3) * 0.1).requires_grad_()
h = images / 255
h = conv_nhwc(h, params["conv2d.kernel"], params["conv2d.bias"], 1, "same", True)
h = conv_nhwc(h, params["conv2d_1.kernel"], params["conv2d_1.bias"], 1, "same", True)
h = F.max_pool2d(h.permute(0, 3, 1, 2), 2).permute(0, 2, 3, 1)
h = conv_nhwc(h, params["conv2d_2.kernel"], params["conv2d_2.bias"], 1, "same", True)
h = F.max_pool2d(h.permute(0, 3, 1, 2), 2).permute(0, 2, 3, 1)
logits = F.linear(h.reshape(2, -1), params["dense.kernel"].t(), params["dense.bias"])
loss = F.cross_entropy(logits, labels)
loss.backward()
put("model.images", images)
put("model.labels", labels.to(torch.float64))
put("model.logits", logits)
put("model.loss", loss.reshape(1))
for k, t in params.items():
    put("model." + k, t)
    put("model.grad." + k, t.grad)

# write safetensors by hand: 8-byte little-endian header length, JSON header, raw little-endian data
header, blobs, offset = {}, [], 0
header["__metadata__"] = {"generator": "tools/make_torch_fixtures.py", "torch": torch.__version__}
for name in sorted(tensors):
    t = tensors[name]
    data = t.numpy().astype("<f8").tobytes()
    header[name] = {"dtype": "F64", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
    blobs.append(data)
    offset += len(data)
text = json.dumps(header, separators=(",", ":"))
text += " " * ((8 - len(text) % 8) % 8)
out = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "torch_reference.safetensors"
out.parent.mkdir(parents=True, exist_ok=True)
with open(out, "wb") as f:
    f.write(struct.pack("<Q", len(text)))
    f.write(text.encode())
    for blob in blobs:
        f.write(blob)
print(f"wrote {out} ({out.stat().st_size} bytes, {len(tensors)} tensors, torch {torch.__version__})", file=sys.stderr)
