#!/bin/bash
# Scores a finished run once by the rules of examples/melanoma/RESULTS.md (runs 29-36): its best checkpoint and stored alert
# threshold, on the Test folder, on Test without the images that are copies of Train images, and, where the
# external split exists (examples/melanoma/tools/external_set/README.md), on ham-val and ham-final. Nothing is chosen here.
#
#   examples/melanoma/tools/score_run.sh RUNDIR DATASET [SPLITS]   # DATASET holds Train/ and Test/; SPLITS holds ham-val/, ham-final/
# Writes RUNDIR/{test,test-nocopies,ham-val,ham-final}/ (metrics.json, confusion matrix, predictions, ROC) and a
# log beside each. CHECKPOINT=pooled.safetensors scores RUNDIR/pooled.safetensors instead (written by `melanoma
# calibrate --save`), into folders and logs named with its stem: test-pooled/, ham-final-pooled.log, ...
set -euo pipefail
if [ $# -lt 2 ]; then sed -n 2,9p "$0" >&2; exit 2; fi
run=$1 data=$2 splits=${3:-}
M=${MELANOMA:-./build/examples/melanoma/melanoma}
threads=${THREADS:-2}
ckpt=${CHECKPOINT:-best.safetensors}
case $ckpt in */*) echo "score_run.sh: CHECKPOINT names a file in RUNDIR, not a path: $ckpt" >&2; exit 2;; esac
tag=$([ "$ckpt" = best.safetensors ] || echo "-${ckpt%.safetensors}")
[ -f "$run/$ckpt" ] || { echo "score_run.sh: no $run/$ckpt" >&2; exit 2; }
score() {  # name, then evaluate's arguments
    local name=$1$tag; shift
    "$M" evaluate --model "$run/$ckpt" --threads "$threads" --out "$run/$name" "$@" > "$run/$name.log" 2>&1 ||
        { echo "score_run.sh: evaluate failed for $name; the end of $run/$name.log:" >&2; tail -5 "$run/$name.log" >&2; exit 1; }
    echo "== $name"; grep -a "^Images\|Left out\|Melanoma alert\|ROC AUC\|by arg-max" "$run/$name.log"
}
score test --data "$data"
score test-nocopies --data "$data" --exclude-copies-of "$data/Train"
if [ -n "$splits" ]; then
    score ham-val --data "$splits/ham-val"
    score ham-final --data "$splits/ham-final"
fi
