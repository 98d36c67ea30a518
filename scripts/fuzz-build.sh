#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/) with clang, AddressSanitizer and UndefinedBehaviorSanitizer
# (undefined behaviour stops the run like a crash: -fno-sanitize-recover). Called by
# fuzz-smoke.sh and fuzz-long.sh; prints nothing but the build's output.
#
# Usage: scripts/fuzz-build.sh BUILD_DIR JOBS TARGET...     (target names without _fuzzer)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=$1
jobs=$2
shift 2
command -v clang++ >/dev/null || { echo "fuzz-build: clang++ not found (apt-get install clang libclang-rt-dev)" >&2; exit 2; }
gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
# Everything carries coverage instrumentation (fuzzer-no-link); -O1 keeps the build short.
flags="-O1 -gline-tables-only -fno-sanitize-recover=undefined"
CC=clang CXX=clang++ cmake -S "$here" -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Fuzz \
  -DCMAKE_CXX_FLAGS_FUZZ="$flags" -DCMAKE_C_FLAGS_FUZZ="$flags" \
  -DXVGPU_FUZZ=ON -DXVGPU_SANITIZE=address,undefined,fuzzer-no-link -DXVGPU_BUILD_BENCH=OFF \
  -DXVGPU_REAL_XEN_TESTS=OFF >/dev/null
cmake --build "$build" -j"$jobs" --target "${@/%/_fuzzer}"
