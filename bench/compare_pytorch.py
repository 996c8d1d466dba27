#!/usr/bin/python3
"""Times a model in PyTorch (Debian python3-torch) - NCHW and channels-last - next to ember's benchmark of the same
model, on the same machine in the same run, and prints the ratio table. Two models: the reference melanoma model
(bench_model, 180x180x3) and a small residual network (bench_residual, 96x96x3: a stride-2 stem, two residual blocks
at 32 channels, a downsampling block to 64, one residual block at 64, global average pooling, 9 classes).

Run from the repository root after building bench_model and bench_residual:
    /usr/bin/python3 bench/compare_pytorch.py --ember build/bench/bench_model --threads 2
    /usr/bin/python3 bench/compare_pytorch.py --model residual --ember build/bench/bench_residual --threads 2
"""
import argparse
import json
import os
import subprocess
import time

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--model", choices=["reference", "residual"], default="reference", help="which model to compare")
parser.add_argument("--ember", help="path of ember's benchmark of that model (default: build/bench/bench_model for "
                    "the reference model, build/bench/bench_residual for the residual one)")
parser.add_argument("--threads", type=int, default=2)
parser.add_argument("--steps", type=int, default=5, help="timed training steps per format")
args = parser.parse_args()
if args.ember is None:
    args.ember = {"reference": "build/bench/bench_model", "residual": "build/bench/bench_residual"}[args.model]
os.environ["OMP_NUM_THREADS"] = str(args.threads)

import torch  # noqa: E402  (after OMP_NUM_THREADS)
import torch.nn as nn  # noqa: E402

torch.set_num_threads(args.threads)
torch.manual_seed(0)


def reference_model():
    return nn.Sequential(
        nn.Conv2d(3, 32, 5, padding="same"), nn.ReLU(), nn.Conv2d(32, 32, 5, padding="same"), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 5, padding="same"), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 64, 5, padding="same"), nn.ReLU(), nn.MaxPool2d(2),
        nn.Dropout(0.25), nn.Flatten(), nn.Linear(22 * 22 * 64, 9))


class Rescaling(nn.Module):
    """Keras' Rescaling: the residual network, like ember's, takes pixels in [0, 255]."""

    def __init__(self, scale):
        super().__init__()
        self.scale = scale

    def forward(self, x):
        return x * self.scale


def conv_bn(c_in, c_out, kernel, stride=1):
    """Conv2d then BatchNorm2d with Keras' defaults (epsilon 1e-3, momentum 0.99, which is PyTorch's 0.01). Keras'
    'same' pads a stride-2 convolution of an even image by 0 before and 1 after; padding=kernel // 2 pads 1 on both
    sides: the same output size and work, a pixel's shift in where the windows sit."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2),
                         nn.BatchNorm2d(c_out, eps=1e-3, momentum=0.01))


class ResidualBlock(nn.Module):
    """[conv 3x3 -> BN -> ReLU -> conv 3x3 -> BN] + shortcut -> ReLU; with stride 2 the shortcut is a strided 1x1
    convolution with BN, else the identity (as bench_residual.cpp builds it)."""

    def __init__(self, c_in, c_out, stride=1):
        super().__init__()
        self.branch = nn.Sequential(conv_bn(c_in, c_out, 3, stride), nn.ReLU(), conv_bn(c_out, c_out, 3))
        self.shortcut = conv_bn(c_in, c_out, 1, stride) if stride != 1 else nn.Identity()

    def forward(self, x):
        return torch.relu(self.branch(x) + self.shortcut(x))


def residual_model():
    return nn.Sequential(
        Rescaling(1 / 255), conv_bn(3, 32, 3, 2), nn.ReLU(),
        ResidualBlock(32, 32), ResidualBlock(32, 32), ResidualBlock(32, 64, 2), ResidualBlock(64, 64),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 9))


# Per model: how to build it, the image side, and what the [0, 255] pixels are divided by before the model (the
# reference model has no Rescaling layer, so its input is scaled to [0, 1] beforehand).
MODELS = {"reference": (reference_model, 180, 255), "residual": (residual_model, 96, 1)}


def best_of(fn, reps):
    fn()  # warm-up
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def torch_times(channels_last):
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    build, side, divisor = MODELS[args.model]
    model = build().to(memory_format=fmt)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    x = (torch.rand(32, 3, side, side) * 255 / divisor).to(memory_format=fmt)
    y = torch.randint(0, 9, (32,))
    loss_fn = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()

    train = best_of(step, args.steps)
    model.eval()
    with torch.no_grad():
        inf32 = best_of(lambda: torch.softmax(model(x), 1), 5)
        x1 = x[:1].contiguous(memory_format=fmt)
        inf1 = best_of(lambda: torch.softmax(model(x1), 1), 20)
    return {"train_step_s": train, "inference32_s": inf32, "inference1_s": inf1}


def ember_times():
    out = subprocess.run([args.ember, "--benchmark_format=json", "--benchmark_min_time=2"], check=True,
                         capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS=str(args.threads))).stdout
    res = {}
    for b in json.loads(out)["benchmarks"]:
        secs = b["real_time"] / {"ms": 1e3, "us": 1e6, "ns": 1e9, "s": 1}[b["time_unit"]]
        if b["name"].startswith("BM_train_step/32"):
            res["train_step_s"] = secs
        elif b["name"].startswith("BM_inference/32"):
            res["inference32_s"] = secs
        elif b["name"].startswith("BM_inference/1/"):
            res["inference1_s"] = secs
    return res


side = MODELS[args.model][1]
print(f"threads {args.threads}, torch {torch.__version__}, batch 32, {side}x{side}x3, {args.model} model")
results = {"ember": ember_times(), "torch NCHW": torch_times(False), "torch channels-last": torch_times(True)}
rows = [("train_step_s", "training step (batch 32)"), ("inference32_s", "inference, batch 32"),
        ("inference1_s", "inference, batch 1")]
print("times in ms: ember's is the mean over Google Benchmark's iterations, PyTorch's the best of its repetitions")
print(f"{'':28}{'ember':>10}{'torch NCHW':>12}{'torch CL':>10}{'ember / best torch':>20}")
for key, label in rows:
    e, a, b = results["ember"][key], results["torch NCHW"][key], results["torch channels-last"][key]
    print(f"{label:28}{e * 1e3:>10.1f}{a * 1e3:>12.1f}{b * 1e3:>10.1f}{e / min(a, b):>19.2f}x")
