#!/usr/bin/python3
"""Writes tests/fixtures/torch_pooling_depthwise.safetensors: inputs, weights, outputs and gradients computed by
PyTorch for ember's pooling and depthwise layers (tests/interop/test_pytorch_pooling_depthwise.cpp).

Needs Debian's python3-torch; only to regenerate the committed fixture, never to build or test. Run from anywhere
with the system Python:
    /usr/bin/python3 tools/make_torch_fixtures_pooling_depthwise.py
The output is deterministic (fixed seed, float64 on the CPU): rerunning it with the same torch rewrites the same bytes.

Layouts are ember's (and Keras'), as in tools/make_torch_fixtures.py:
  images NHWC               PyTorch NCHW: x.permute(0, 3, 1, 2)
  depthwise kernels         [KH, KW, C, M]; PyTorch's groups=C weight is [C*M, 1, KH, KW] with output channel
                            c*M + m, so  w.permute(2, 3, 0, 1).reshape(C*M, 1, KH, KW)
  pointwise / conv kernels  HWIO; PyTorch OIHW: w.permute(3, 2, 0, 1)
TensorFlow's 'same' padding is an explicit F.pad with the odd row/column at the bottom/right. 'same' average pooling
divides by the pixels inside the image (PyTorch's count_include_pad=False, which F.avg_pool2d offers only for
symmetric padding): it is computed here as the pooled padded input over the pooled padded mask of ones. 'same' max
pooling pads with -inf. Gradients of the single-op cases are those of L = sum(y * r) with a fixed random r.
"""
import math
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fixture_writer import write_safetensors  # noqa: E402

torch.manual_seed(4321)
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


def pad_nchw(xc, k, stride, padding, value=0.0):
    """Pads NCHW xc as TensorFlow would for a k = (kh, kw) window at stride (sh, sw)."""
    if padding != "same":
        return xc
    top, bottom = tf_same_pads(xc.shape[2], k[0], stride[0])
    left, right = tf_same_pads(xc.shape[3], k[1], stride[1])
    return F.pad(xc, (left, right, top, bottom), value=value)


def depthwise_nhwc(x, w, b, stride, padding, relu):
    """x NHWC, w [KH, KW, C, M] -> y NHWC [.., C*M], channel c*M + m: PyTorch's conv2d with groups = C."""
    kh, kw, c, m = w.shape
    xc = pad_nchw(x.permute(0, 3, 1, 2), (kh, kw), stride, padding)
    wt = w.permute(2, 3, 0, 1).reshape(c * m, 1, kh, kw)
    y = F.conv2d(xc, wt, b, stride=stride, groups=c)
    return (torch.relu(y) if relu else y).permute(0, 2, 3, 1)


def conv_nhwc(x, w, b, relu):
    """A stride-1 'valid' convolution, x NHWC and w HWIO (the pointwise step of SeparableConv2D)."""
    y = F.conv2d(x.permute(0, 3, 1, 2), w.permute(3, 2, 0, 1), b)
    return (torch.relu(y) if relu else y).permute(0, 2, 3, 1)


def avg_pool_nhwc(x, k, stride, padding):
    xc = x.permute(0, 3, 1, 2)
    if padding == "valid":
        return F.avg_pool2d(xc, k, stride).permute(0, 2, 3, 1)
    sums = F.avg_pool2d(pad_nchw(xc, k, stride, padding), k, stride)
    counts = F.avg_pool2d(pad_nchw(torch.ones_like(xc[:1, :1]), k, stride, padding), k, stride)
    return (sums / counts).permute(0, 2, 3, 1)


def max_pool_nhwc(x, k, stride, padding):
    xc = pad_nchw(x.permute(0, 3, 1, 2), k, stride, padding, value=-math.inf)
    return F.max_pool2d(xc, k, stride).permute(0, 2, 3, 1)


def grads_of(name, y, inputs):
    r = torch.rand_like(y) * 2 - 1
    put(name + ".r", r)
    put(name + ".y", y)
    (y * r).sum().backward()
    for key, t in inputs.items():
        put(name + ".d" + key, t.grad)


def uniform(shape, lo=-1.0, hi=1.0):
    return (torch.rand(shape) * (hi - lo) + lo).requires_grad_()


# (a) depthwise convolution: (name, x, kernel [KH, KW, C, M], strides, padding, relu, bias)
#   dw_same3      7x9, 3x3, s1 'same' -> pads (1, 1) x (1, 1), fused relu
#   dw_s2_m2      7x8, 3x3, s2, M = 2 -> (1, 1) x (0, 1): the extra column at the right
#   dw_even4      6x7, 4x4, s(2, 1)   -> (1, 1) x (1, 2), fused relu
#   dw_valid_m3   6x5, 3x2, s(1, 2) 'valid', M = 3
#   dw_nobias     5x6, 5x5, s1 'same', no bias
DW_CASES = [
    ("dw_same3", (1, 7, 9, 3), (3, 3, 3, 1), (1, 1), "same", True, True),
    ("dw_s2_m2", (1, 7, 8, 2), (3, 3, 2, 2), (2, 2), "same", False, True),
    ("dw_even4", (1, 6, 7, 3), (4, 4, 3, 1), (2, 1), "same", True, True),
    ("dw_valid_m3", (2, 6, 5, 2), (3, 2, 2, 3), (1, 2), "valid", False, True),
    ("dw_nobias", (1, 5, 6, 2), (5, 5, 2, 1), (1, 1), "same", False, False),
]
for name, x_shape, w_shape, stride, padding, relu, has_bias in DW_CASES:
    x, w = uniform(x_shape), uniform(w_shape)
    inputs = {"x": x, "w": w}
    put(name + ".x", x)
    put(name + ".w", w)
    b = None
    if has_bias:
        b = uniform(w_shape[2] * w_shape[3], -0.2, 0.2)
        inputs["b"] = b
        put(name + ".b", b)
    grads_of(name, depthwise_nhwc(x, w, b, stride, padding, relu), inputs)

# (b) pooling: (name, kind, x, window, strides, padding)
#   avg_same     9x7, 2x2 s2 'same' -> pads (0, 1) x (0, 1): the last window row and column hold one pixel
#   avg_same3    6x5, 3x3 s1 'same' -> every border window is cut
#   avg_s2_k3    7x8, 3x3 s2 'same' -> (1, 1) x (0, 1)
#   max_same*    the same windows for max pooling; random values, so no ties
POOL_CASES = [
    ("avg_valid", "avg", (1, 9, 7, 2), (2, 2), (2, 2), "valid"),
    ("avg_same", "avg", (2, 9, 7, 1), (2, 2), (2, 2), "same"),
    ("avg_same3", "avg", (1, 6, 5, 2), (3, 3), (1, 1), "same"),
    ("avg_s2_k3", "avg", (1, 7, 8, 2), (3, 3), (2, 2), "same"),
    ("max_same", "max", (1, 9, 7, 2), (2, 2), (2, 2), "same"),
    ("max_s2_k3", "max", (1, 7, 8, 2), (3, 3), (2, 2), "same"),
]
for name, kind, x_shape, k, stride, padding in POOL_CASES:
    x = uniform(x_shape)
    put(name + ".x", x)
    pool = avg_pool_nhwc if kind == "avg" else max_pool_nhwc
    grads_of(name, pool(x, k, stride, padding), {"x": x})
# Where TensorFlow's padding is symmetric, the mask quotient is PyTorch's own count_include_pad=False.
x = tensors["avg_same3.x"]
own = F.avg_pool2d(x.permute(0, 3, 1, 2), 3, 1, padding=1, count_include_pad=False).permute(0, 2, 3, 1)
assert torch.allclose(own, tensors["avg_same3.y"], rtol=1e-14, atol=1e-14)

# (c) global pooling, [N, H, W, C] -> [N, C]
x = uniform((2, 3, 5, 3))
put("gap.x", x)
grads_of("gap", x.mean(dim=(1, 2)), {"x": x})
x = uniform((2, 3, 5, 3))
put("gmp.x", x)
grads_of("gmp", F.max_pool2d(x.permute(0, 3, 1, 2), (3, 5)).flatten(1), {"x": x})

# (d) SeparableConv2D(5, 3, 'same', relu, strides 2, depth_multiplier 2) on 7x6x3: depthwise without bias, then a
# 1x1 convolution with the bias, then relu.
x, dk, pk, b = uniform((1, 7, 6, 3)), uniform((3, 3, 3, 2)), uniform((1, 1, 6, 5)), uniform(5, -0.2, 0.2)
for key, t in {"x": x, "depthwise_kernel": dk, "pointwise_kernel": pk, "bias": b}.items():
    put("sep." + key, t)
y = conv_nhwc(depthwise_nhwc(x, dk, None, (2, 2), "same", False), pk, b, True)
grads_of("sep", y, {"x": x, "depthwise_kernel": dk, "pointwise_kernel": pk, "bias": b})


# (e) a small MobileNet-style model as a PyTorch user writes it (NCHW modules). ember's model: Conv2D(4, 3, 'same',
# relu), DepthwiseConv2D(3, 'same', relu, strides 2), SeparableConv2D(6, 3, 'same', relu), AveragePooling2D(2,
# 'same'), GlobalAveragePooling2D, Dense(3). PyTorch's symmetric padding=1 equals TensorFlow's 'same' for the
# stride-1 3x3 layers; the strided depthwise layer and the pooling get TensorFlow's pads explicitly.
class Small(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv2d = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.depthwise_conv2d = torch.nn.Conv2d(4, 4, 3, stride=2, groups=4)
        self.separable_depthwise = torch.nn.Conv2d(4, 4, 3, padding=1, groups=4, bias=False)
        self.separable_pointwise = torch.nn.Conv2d(4, 6, 1)
        self.dense = torch.nn.Linear(6, 3)

    def forward(self, images_nhwc):
        h = torch.relu(self.conv2d(images_nhwc.permute(0, 3, 1, 2)))
        h = torch.relu(self.depthwise_conv2d(pad_nchw(h, (3, 3), (2, 2), "same")))
        h = torch.relu(self.separable_pointwise(self.separable_depthwise(h)))
        h = avg_pool_nhwc(h.permute(0, 2, 3, 1), (2, 2), (2, 2), "same")  # NHWC from here
        return self.dense(h.mean(dim=(1, 2)))


def depthwise_to_ember(t):
    """PyTorch [C*M, 1, KH, KW] (groups = C) -> ember [KH, KW, C, M] (here M = 1)."""
    return t.reshape(t.shape[0], 1, t.shape[2], t.shape[3]).permute(2, 3, 0, 1)


def ember_state(values):
    """PyTorch parameters (name -> tensor of the parameter's shape) -> ember's names and layouts."""
    return {
        "conv2d.kernel": values["conv2d.weight"].permute(2, 3, 1, 0),
        "conv2d.bias": values["conv2d.bias"],
        "depthwise_conv2d.depthwise_kernel": depthwise_to_ember(values["depthwise_conv2d.weight"]),
        "depthwise_conv2d.bias": values["depthwise_conv2d.bias"],
        "separable_conv2d.depthwise_kernel": depthwise_to_ember(values["separable_depthwise.weight"]),
        "separable_conv2d.pointwise_kernel": values["separable_pointwise.weight"].permute(2, 3, 1, 0),
        "separable_conv2d.bias": values["separable_pointwise.bias"],
        "dense.kernel": values["dense.weight"].t(),
        "dense.bias": values["dense.bias"],
    }


model = Small()
images = torch.rand(2, 9, 9, 3)
labels = torch.tensor([2, 0])
logits = model(images)
loss = F.cross_entropy(logits, labels)
loss.backward()
params = ember_state(dict(model.named_parameters()))
grads = ember_state({n: p.grad for n, p in model.named_parameters()})
put("model.images", images)
put("model.labels", labels)
put("model.logits", logits)
put("model.loss", loss)
for k in params:
    put("model." + k, params[k])
    put("model.grad." + k, grads[k])

write_safetensors(
    tensors,
    Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "torch_pooling_depthwise.safetensors",
    {
        "generator": "tools/make_torch_fixtures_pooling_depthwise.py",
        "torch": torch.__version__,
        "layouts": "NHWC images, depthwise kernels [KH, KW, C, M], HWIO conv kernels, Dense kernels [in, out]",
    },
)
