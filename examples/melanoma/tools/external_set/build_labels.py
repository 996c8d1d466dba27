#!/usr/bin/env python3
"""Labels of the external HAM10000 / ISIC 2018 set (examples/melanoma/RESULTS.md, "A second held-out source"), rebuilt from
public files, with every image of the dataset's Train or Test lesions removed.

Inputs (none is committed; examples/melanoma/RESULTS.md says where each comes from):
  --images   folder of the 224x224 JPEGs (congtran19/XLA at a8ba08a, folder images/)
  --ham      HAM10000_metadata.csv (columns lesion_id, image_id, dx; repeated rows are allowed)
  --test-gt  ISIC2018_Task3_Test_GroundTruth.csv (image, MEL, NV, BCC, AKIEC, BKL, DF, VASC)
  --dataset  the ISIC dataset folder holding Train/ and Test/ class folders
Output: --out labels.json, {"ISIC_xxxxxxx": "<class folder name>", ...}, sorted by id.

Removed: images whose ISIC id is a file of Train or Test, and HAM10000 images of a lesion (lesion_id) that has an
image in Train or Test. Printed: the counts, which the doc's table gives (743 + 125 removed, 6,628 left).
"""
import argparse
import collections
import csv
import json
import os

# HAM10000's diagnosis codes as the dataset's class folders (bkl holds seborrheic keratoses and solar lentigines
# too; it maps to the closest folder).
CLASSES = {"akiec": "actinic keratosis", "bcc": "basal cell carcinoma", "bkl": "pigmented benign keratosis",
           "df": "dermatofibroma", "mel": "melanoma", "nv": "nevus", "vasc": "vascular lesion"}


def dataset_ids(root):
    ids = set()
    for split in ("Train", "Test"):
        for cls in os.listdir(os.path.join(root, split)):
            for name in os.listdir(os.path.join(root, split, cls)):
                ids.add(os.path.splitext(name)[0])
    return ids


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for flag in ("--images", "--ham", "--test-gt", "--dataset", "--out"):
        ap.add_argument(flag, required=True)
    a = ap.parse_args()

    label, lesion = {}, {}
    with open(a.ham, newline="") as f:
        for row in csv.DictReader(f):
            i = row["image_id"]
            if label.setdefault(i, CLASSES[row["dx"]]) != CLASSES[row["dx"]]:
                raise SystemExit(f"{a.ham}: {i} has two diagnoses")
            lesion[i] = row["lesion_id"]
    with open(a.test_gt, newline="") as f:
        for row in csv.DictReader(f):
            dx = [k for k in ("MEL", "NV", "BCC", "AKIEC", "BKL", "DF", "VASC") if float(row[k]) == 1.0]
            if len(dx) != 1:
                raise SystemExit(f"{a.test_gt}: {row['image']} has {len(dx)} diagnoses")
            label.setdefault(row["image"], CLASSES[dx[0].lower()])

    images = sorted(os.path.splitext(n)[0] for n in os.listdir(a.images) if n.endswith(".jpg"))
    unlabelled = [i for i in images if i not in label]
    if unlabelled:
        raise SystemExit(f"{len(unlabelled)} images have no label, e.g. {unlabelled[0]}")
    ours = dataset_ids(a.dataset)
    our_lesions = {lesion[i] for i in ours if i in lesion}
    same_image = [i for i in images if i in ours]
    same_lesion = [i for i in images if i not in ours and lesion.get(i) in our_lesions]
    drop = set(same_image) | set(same_lesion)
    kept = {i: label[i] for i in images if i not in drop}
    with open(a.out, "w") as f:
        json.dump(kept, f)
    print(f"{len(images)} images; removed {len(same_image)} that are Train/Test images and {len(same_lesion)} of "
          f"their lesions; {len(kept)} left")
    print(dict(sorted(collections.Counter(kept.values()).items())))


if __name__ == "__main__":
    main()
