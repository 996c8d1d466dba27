#!/usr/bin/python3
"""Times the reference melanoma model in PyTorch (Debian python3-torch) - NCHW and channels-last - next to ember's
bench_model, on the same machine in the same run, and prints the ratio table.

Run from the repository root after building bench_model:
    /usr/bin/python3 bench/compare_pytorch.py --ember build/bench/bench_model --threads 2
"""
import argparse
import json
import os
import subprocess
import time

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--ember", default="build/bench/bench_model", help="path of ember's bench_model")
parser.add_argument("--threads", type=int, default=2)
parser.add_argument("--steps", type=int, default=5, help="timed training steps per format")
args = parser.parse_args()
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
    model = reference_model().to(memory_format=fmt)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    x = (torch.rand(32, 3, 180, 180) * 255 / 255).to(memory_format=fmt)
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


print(f"threads {args.threads}, torch {torch.__version__}, batch 32, 180x180x3, reference model")
results = {"ember": ember_times(), "torch NCHW": torch_times(False), "torch channels-last": torch_times(True)}
rows = [("train_step_s", "training step (batch 32)"), ("inference32_s", "inference, batch 32"),
        ("inference1_s", "inference, batch 1")]
print("times in ms: ember's is the mean over Google Benchmark's iterations, PyTorch's the best of its repetitions")
print(f"{'':28}{'ember':>10}{'torch NCHW':>12}{'torch CL':>10}{'ember / best torch':>20}")
for key, label in rows:
    e, a, b = results["ember"][key], results["torch NCHW"][key], results["torch channels-last"][key]
    print(f"{label:28}{e * 1e3:>10.1f}{a * 1e3:>12.1f}{b * 1e3:>10.1f}{e / min(a, b):>19.2f}x")
