#!/usr/bin/env bash
# Builds the libFuzzer harnesses of tests/fuzz with clang (AddressSanitizer + UndefinedBehaviorSanitizer), writes
# their seed corpora, replays the regression reproducers, then fuzzes each harness:
#   tools/run_fuzzers.sh                 # CI: 4,000 runs per fuzzer (deterministic, -seed=1)
#   tools/run_fuzzers.sh --runs 200000   # more runs
#   tools/run_fuzzers.sh --seconds 600   # each fuzzer for 10 minutes (a long run; its corpus grows in build-fuzz/)
# A finding stops the script with libFuzzer's report and the input saved as build-fuzz/crash-*.
set -euo pipefail
cd "$(dirname "$0")/.."
budget="-runs=4000"
case "${1:-}" in
  --runs) budget="-runs=$2" ;;
  --seconds) budget="-max_total_time=$2" ;;
  "") ;;
  *) echo "usage: tools/run_fuzzers.sh [--runs N | --seconds S]" >&2; exit 2 ;;
esac
build=build-fuzz
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ -DEMBER_FUZZ=ON \
  -DEMBER_BUILD_TESTS=OFF -DEMBER_BUILD_BENCH=OFF -DEMBER_BUILD_EXAMPLES=OFF > /dev/null
cmake --build "$build" -j"$(nproc)"
fuzz="$build/tests/fuzz"
"$fuzz/make_fuzz_seeds" "$build/seeds"
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# The regression reproducers (hostile inputs found before): each must run clean, once.
crashes=../shared/crashes
if [ -d "$crashes" ]; then
  "$fuzz/fuzz_image" -runs=1 "$crashes"/*.jpg "$crashes"/*.gif
else
  echo "run_fuzzers: no $crashes, the regression reproducers were not replayed"
fi
# The recipe reader's seeds are the shipped recipes themselves.
mkdir -p "$build/seeds/recipe" && cp examples/melanoma/recipes/*.json "$build/seeds/recipe/"
for target in image safetensors checkpoint recipe; do
  corpus="$build/corpus/$target"  # new inputs land here; the seeds stay as written
  mkdir -p "$corpus"
  echo "== fuzz_$target ($budget)"
  (cd "$build" && "tests/fuzz/fuzz_$target" "$budget" -seed=1 -max_len=65536 -rss_limit_mb=3000 \
     -timeout=30 "corpus/$target" "seeds/$target")
done
echo "run_fuzzers: no finding"
