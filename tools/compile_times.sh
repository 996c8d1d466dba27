#!/usr/bin/env bash
# Builds ember from scratch in BUILD_DIR (default /tmp/ember-compile-times) and lists the wall time of every
# compile, slowest first, with the total: where the build's time goes. Extra arguments go to cmake's configure
# step (e.g. -DEMBER_FORCE_SCALAR=ON). Usage: bash tools/compile_times.sh [cmake options...]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-/tmp/ember-compile-times}
log="$build/compile_times.txt"
rm -rf "$build"
mkdir -p "$build"
# The launcher runs each compile and appends "<seconds> <object file>" to the log.
launcher="$build/time_compile"
cat > "$launcher" <<LAUNCHER
#!/usr/bin/env bash
start=\$(date +%s.%N)
"\$@"
rc=\$?
out=""; prev=""
for arg in "\$@"; do [ "\$prev" = "-o" ] && out=\$arg; prev=\$arg; done
echo "\$(echo "\$(date +%s.%N) - \$start" | bc) \$out" >> "$log"
exit \$rc
LAUNCHER
chmod +x "$launcher"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER_LAUNCHER="$launcher" "$@" > /dev/null
start=$(date +%s)
cmake --build "$build" -j"$(nproc)" > "$build/build.log" 2>&1 || { tail -30 "$build/build.log"; exit 1; }
echo "build: $(( $(date +%s) - start )) s wall on $(nproc) cores"
sort -rn "$log" | awk '{printf "%7.1f s  %s\n", $1, $2; total += $1} END {printf "%7.1f s  in all, %d compiles\n", total, NR}'
