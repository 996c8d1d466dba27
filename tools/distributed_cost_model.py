#!/usr/bin/env python3
"""The cost model of docs/distributed.md: expected scaling efficiency of data-parallel training over N machines.

Per step each machine computes its per-process batch, then the gradients are summed by a ring allreduce, which sends
and receives 2 (N - 1) / N of the gradient bytes per machine in 2 (N - 1) messages (ember sums after backward, so
nothing overlaps): efficiency = compute / (compute + allreduce). Inputs are measured figures (docs/distributed.md
says where each comes from); the link latencies are typical values, not measurements.

    python3 tools/distributed_cost_model.py [--images-per-second 52.5] [--per-process-batch 32]
"""
import argparse

GRADIENT_BYTES = 460_585 * 4  # the reference model's float gradients: 1.84 MB
LINKS = {"10 Gb/s Ethernet": (10e9, 25e-6), "100 Gb/s InfiniBand": (100e9, 5e-6)}  # bits/s, latency per message


def allreduce_seconds(machines, bits_per_second, latency):
    if machines == 1:
        return 0.0
    moved = 2 * (machines - 1) / machines * GRADIENT_BYTES * 8
    return moved / bits_per_second + 2 * (machines - 1) * latency


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images-per-second", type=float, default=52.5,
                    help="one machine's training throughput (measured: 52.5 on 2 vCPUs)")
    ap.add_argument("--per-process-batch", type=int, default=32)
    a = ap.parse_args()
    compute = a.per_process_batch / a.images_per_second
    print(f"compute per step: {compute * 1e3:.1f} ms ({a.per_process_batch} images at {a.images_per_second} images/s)")
    print(f"{'machines':>8} {'global batch':>12} " + " ".join(f"{name + ' (ms, eff.)':>32}" for name in LINKS))
    for n in (2, 8, 64, 256):
        cells = []
        for bits, latency in LINKS.values():
            t = allreduce_seconds(n, bits, latency)
            cells.append(f"{t * 1e3:>22.2f} ms {compute / (compute + t):>6.1%}")
        print(f"{n:>8} {n * a.per_process_batch:>12} " + " ".join(f"{c:>32}" for c in cells))


if __name__ == "__main__":
    main()
