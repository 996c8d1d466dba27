#!/usr/bin/env bash
# Installs the Debian packages ember's build, tests, benchmarks and examples need (run as root or with sudo).
set -euo pipefail
# clang, its sanitizer/libFuzzer runtimes and LLVM's OpenMP are for the fuzzers (tools/run_fuzzers.sh) only;
# Open MPI is for the optional distributed stage (ember/distributed, `mpirun -np N melanoma train`).
packages=(build-essential cmake git libeigen3-dev libstb-dev nlohmann-json3-dev catch2 libbenchmark-dev
          libcli11-dev gnuplot-nox python3 clang libclang-rt-14-dev libomp-dev libopenmpi-dev openmpi-bin)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install_deps: all ${#packages[@]} packages already installed"
  exit 0
fi
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "install_deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
