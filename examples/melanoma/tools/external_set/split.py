#!/usr/bin/env python3
"""Splits the external set (build_labels.py's labels.json) into folders of class folders of symlinks, by a rule
fixed before any model saw it (examples/melanoma/RESULTS.md, run 27):

per class, the images sorted by SHA-256 of "ember-ham-split-1/" + file name; the first half is the training pool,
the next quarter ham-val, the rest ham-final; ham-train is the first 300 of the pool. external-clean holds them all.

  split.py --labels labels.json --images DIR --out ROOT   # makes ROOT/{external-clean,ham-train,ham-val,ham-final}
"""
import argparse
import collections
import hashlib
import json
import os

CAP = 300  # most images per class in ham-train, so that 5,232 nevi do not swamp the classes


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for flag in ("--labels", "--images", "--out"):
        ap.add_argument(flag, required=True)
    a = ap.parse_args()
    with open(a.labels) as f:
        labels = json.load(f)
    parts = ("external-clean", "ham-train", "ham-val", "ham-final")
    for part in parts:
        if os.path.exists(os.path.join(a.out, part)):
            raise SystemExit(f"{os.path.join(a.out, part)} exists: give an --out without the parts")
    by_class = collections.defaultdict(list)
    for image, cls in labels.items():
        by_class[cls].append(image + ".jpg")
    images = os.path.abspath(a.images)
    counts = {part: {} for part in parts}
    for cls, names in sorted(by_class.items()):
        names.sort(key=lambda n: hashlib.sha256(("ember-ham-split-1/" + n).encode()).hexdigest())
        n = len(names)
        pool, val = n // 2, (n - n // 2) // 2
        chosen = {"external-clean": names, "ham-train": names[:pool][:CAP], "ham-val": names[pool:pool + val],
                  "ham-final": names[pool + val:]}
        for part, files in chosen.items():
            folder = os.path.join(a.out, part, cls)
            os.makedirs(folder)
            for name in files:
                source = os.path.join(images, name)
                if not os.path.isfile(source):
                    raise SystemExit(f"{source} is missing")
                os.symlink(source, os.path.join(folder, name))
            counts[part][cls] = len(files)
    for part in parts:
        print(part, sum(counts[part].values()), counts[part])


if __name__ == "__main__":
    main()
