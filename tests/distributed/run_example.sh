#!/usr/bin/env bash
# The melanoma example under mpirun on ../shared/data/isic-mini: a 2-process run writes the files a 1-process run
# writes, with the same figures to float rounding; one process resumes it; processes started with different options
# are refused at the start, naming the option. Usage: run_example.sh MELANOMA_BIN DATA_DIR WORK_DIR
set -euo pipefail
bin=$1 data=$2 work=$3
if [ ! -d "$data/Train" ]; then
  echo "skipped, no shared data: $data/Train not found (the melanoma example's MPI run needs ../shared/data/isic-mini)"
  exit 0
fi
mpirun=(mpirun --allow-run-as-root --oversubscribe -x OMP_NUM_THREADS=1)
run=(train --data "$data" --batch 16 --limit 64)
rm -rf "$work" && mkdir -p "$work"
fail() { echo "FAILED: $*"; exit 1; }

"${mpirun[@]}" -np 2 "$bin" "${run[@]}" --epochs 1 --out "$work/two" > "$work/two.log" 2>&1 || { cat "$work/two.log"; fail "2-process train"; }
"$bin" "${run[@]}" --epochs 1 --threads 1 --out "$work/one" > "$work/one.log" 2>&1 || { cat "$work/one.log"; fail "1-process train"; }
[ "$(ls "$work/one")" = "$(ls "$work/two")" ] || fail "the 2-process folder holds $(ls "$work/two" | tr '\n' ' '), the 1-process one $(ls "$work/one" | tr '\n' ' ')"
# one progress bar, from rank 0 alone
[ "$(grep -c '^Epoch 1/1' "$work/two.log")" = 1 ] || fail "the 2-process run's log has $(grep -c '^Epoch 1/1' "$work/two.log") epoch lines"
# the same figures as one process, to float rounding (loss, accuracy, val_loss, val_accuracy)
python3 - "$work/one/history.csv" "$work/two/history.csv" <<'PY' || fail "the figures differ"
import csv, sys
one, two = (list(csv.DictReader(open(f)))[0] for f in sys.argv[1:3])
for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
    a, b = float(one[key]), float(two[key])
    assert abs(a - b) <= 1e-3 * max(1.0, abs(a)), f"{key}: 1 process {a}, 2 processes {b}"
PY
"$bin" "${run[@]}" --epochs 2 --resume --out "$work/two" > "$work/resume.log" 2>&1 || { cat "$work/resume.log"; fail "resume in 1 process"; }
grep -q "Resuming after epoch 1 of 2" "$work/resume.log" || fail "the 1-process resume did not resume"
[ "$(tail -n +2 "$work/two/history.csv" | wc -l)" = 2 ] || fail "the resumed history has not 2 epochs"
# processes started with different options: refused at the start, naming the option; no process left waiting
if "${mpirun[@]}" -np 1 "$bin" "${run[@]}" --epochs 1 --lr 0.001 --out "$work/mixed" : -np 1 "$bin" "${run[@]}" \
     --epochs 1 --lr 0.002 --out "$work/mixed" > "$work/mixed.log" 2>&1; then
  fail "processes with different --lr were not refused"
fi
grep -q "rank 1 has '--lr 0.002'" "$work/mixed.log" || { cat "$work/mixed.log"; fail "no message naming --lr"; }
echo "the 2-process example run matches the 1-process one; resumed in 1 process; mixed options refused"
