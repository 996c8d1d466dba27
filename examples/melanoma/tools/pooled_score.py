#!/usr/bin/env python3
"""Scores one model on several labelled sources pooled into one set, from the predictions.csv files that
`melanoma evaluate` (and `train`, for its validation split) write. Python's standard library only.

    examples/melanoma/tools/pooled_score.py [--digits N] PREDICTIONS.csv [PREDICTIONS.csv ...]

Prints, per source and pooled: images, accuracy, balanced accuracy (the mean recall over the classes present) and
the melanoma ROC AUC (ties counted half), plus the mean of the sources' balanced accuracies. Figures have 4
decimals, or N with --digits N (1-17; --digits 17 reproduces a rule that compares runs at full precision). Nothing
is chosen here; examples/melanoma/RESULTS.md says which figures a rule reads.
"""
import argparse
import bisect
import csv
import sys


def load(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        sys.exit(f"pooled_score.py: {path} has no rows")
    if "p_melanoma" not in rows[0]:
        sys.exit(f"pooled_score.py: {path} has no p_melanoma column")
    return [(r["true_class"], r["predicted_class"], float(r["p_melanoma"])) for r in rows]


def auc(rows):
    pos = sorted(p for t, _, p in rows if t == "melanoma")
    neg = sorted(p for t, _, p in rows if t != "melanoma")
    if not pos or not neg:
        return float("nan")
    # Mann-Whitney: for each positive, the negatives below it count 1 and those equal to it 1/2.
    won = 0.0
    for p in pos:
        below, up_to = bisect.bisect_left(neg, p), bisect.bisect_right(neg, p)
        won += below + 0.5 * (up_to - below)
    return won / (len(pos) * len(neg))


def scores(rows):
    classes = sorted({t for t, _, _ in rows})
    recall = [sum(1 for t, p, _ in rows if t == c and p == c) / sum(1 for t, _, _ in rows if t == c)
              for c in classes]
    acc = sum(1 for t, p, _ in rows if t == p) / len(rows)
    return len(rows), acc, sum(recall) / len(recall), auc(rows)


def parse(args):
    ap = argparse.ArgumentParser(prog="pooled_score.py", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--digits", type=int, choices=range(1, 18), default=4, metavar="N",
                    help="decimals printed (1-17, default 4)")
    ap.add_argument("paths", nargs="+", metavar="PREDICTIONS.csv")
    a = ap.parse_args(args)
    return a.digits, a.paths


def main(args):
    d, paths = parse(args)
    sources = [load(p) for p in paths]
    pooled = [r for s in sources for r in s]
    fmt = ("{:<60} images {:>5}  accuracy {:.%df}  balanced {:.%df}  melanoma AUC {:.%df}" % (d, d, d))
    bal = []
    for path, rows in zip(paths, sources):
        n, acc, b, a = scores(rows)
        bal.append(b)
        print(fmt.format(path[-60:], n, acc, b, a))
    print(fmt.format("pooled", *scores(pooled)))
    print(f"mean of the sources' balanced accuracies {sum(bal) / len(bal):.{d}f}")


if __name__ == "__main__":
    main(sys.argv[1:])
