#!/usr/bin/env bash
# Builds test binaries with the sanitizers and runs them:
#   AddressSanitizer + UndefinedBehaviorSanitizer: the stages that read untrusted input or run threads (core, data,
#   io, vision) - in CI; with --all also kernels, autograd, nn, optim and train (about four times the compile time,
#   too much for CI's 20 minutes on 2 cores);
#   ThreadSanitizer (clang, LLVM's OpenMP with its Archer tool): the thread pool (test_core) and the loader's
#   prefetching workers (test_data); with --all also the parallel kernels (test_kernels).
# Usage: tools/run_sanitizers.sh [--all]
set -euo pipefail
cd "$(dirname "$0")/.."
asan_tests=(test_core test_data test_io test_vision)
[ "${1:-}" = "--all" ] && asan_tests+=(test_kernels test_autograd test_nn test_optim test_train)
tsan_tests=(test_core test_data)
[ "${1:-}" = "--all" ] && tsan_tests+=(test_kernels)
jobs=$(nproc)
# -O1 -g1: the sanitizers' usual optimisation, with line numbers in reports; assertions on (no NDEBUG).
configure() {  # configure <dir> <sanitizer flags> [cmake options...]
  local dir=$1 flags=$2; shift 2
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Sanitize "-DCMAKE_CXX_FLAGS_SANITIZE=-O1 -g1 -fno-omit-frame-pointer $flags" \
    "-DCMAKE_EXE_LINKER_FLAGS=$flags" -DEMBER_BUILD_BENCH=OFF -DEMBER_BUILD_EXAMPLES=OFF "$@" > /dev/null
}
run() {  # run <dir> <tests...>: each binary runs whole (its test cases in one process, as a user runs them)
  local dir=$1; shift
  for t in "$@"; do
    echo "-- $dir/tests/$t"
    (cd "$dir/tests" && OMP_NUM_THREADS=2 "./$t")
  done
}
echo "== AddressSanitizer + UndefinedBehaviorSanitizer: ${asan_tests[*]}"
configure build-asan "-fsanitize=address,undefined -fno-sanitize-recover=undefined"
cmake --build build-asan -j"$jobs" --target "${asan_tests[@]}"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 run build-asan "${asan_tests[@]}"

echo "== ThreadSanitizer: ${tsan_tests[*]}"
# With clang and LLVM's OpenMP runtime, whose Archer tool tells ThreadSanitizer about OpenMP's barriers and
# tasks: GCC's libgomp is not instrumented, so TSan would report every parallel region's ordinary hand-over.
configure build-tsan "-fsanitize=thread" -DCMAKE_CXX_COMPILER=clang++
cmake --build build-tsan -j"$jobs" --target "${tsan_tests[@]}"
archer=$(ls /usr/lib/llvm-*/lib/libarcher.so | tail -1)
OMP_TOOL_LIBRARIES="$archer" TSAN_OPTIONS="halt_on_error=1:ignore_noninstrumented_modules=1" \
  run build-tsan "${tsan_tests[@]}"
echo "== sanitizers: clean"
