#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/) with clang + ASan and runs each for a short, bounded time
# on its seed corpus (fuzz/corpus/<target>/), for CI. A crash fails the script and leaves the
# input in $OUT/<target>-crash-*; turn it into a regression entry by copying it into
# fuzz/corpus/<target>/ (ctest replays every corpus file, label unit) once fixed.
#
# Usage: scripts/fuzz-smoke.sh [SECONDS_PER_TARGET] [TARGET...]    (default 20 s, all targets)
# Env:   BUILD_DIR (default build-fuzz), JOBS (default 2), OUT (default $BUILD_DIR/fuzz-out)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-20}
shift || true
build=${BUILD_DIR:-$here/build-fuzz}
jobs=${JOBS:-2}
out=${OUT:-$build/fuzz-out}
all=(ioreq_request buffered_ring pci_config bar_dispatch vgpu_io simgpu_bar simgpu_engine control_request
     vendor_descriptor vnc_client)
targets=("$@")
((${#targets[@]})) || targets=("${all[@]}")

command -v clang++ >/dev/null || { echo "fuzz-smoke: clang++ not found (apt-get install clang libclang-rt-dev)" >&2; exit 2; }
gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
# Instrument everything for coverage (fuzzer-no-link) and ASan; -O1 keeps the build short.
CC=clang CXX=clang++ cmake -S "$here" -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Fuzz \
  -DCMAKE_CXX_FLAGS_FUZZ="-O1 -gline-tables-only" -DCMAKE_C_FLAGS_FUZZ="-O1 -gline-tables-only" \
  -DXVGPU_FUZZ=ON -DXVGPU_SANITIZE=address,fuzzer-no-link -DXVGPU_BUILD_BENCH=OFF -DXVGPU_REAL_XEN_TESTS=OFF >/dev/null
cmake --build "$build" -j"$jobs" --target "${targets[@]/%/_fuzzer}"

mkdir -p "$out"
failed=()
for t in "${targets[@]}"; do
  work=$out/$t
  rm -rf "$work"
  mkdir -p "$work"  # new inputs go here; the committed seeds stay untouched
  log=$out/$t.log
  if "$build/fuzz/${t}_fuzzer" -max_total_time="$secs" -timeout=30 -rss_limit_mb=4096 -print_final_stats=1 \
      -artifact_prefix="$out/$t-" "$work" "$here/fuzz/corpus/$t" >"$log" 2>&1; then
    echo "fuzz-smoke: $t ok: $(grep -E '^#[0-9]+.*DONE' "$log" | tail -1 | sed 's/  */ /g')"
  else
    echo "fuzz-smoke: $t FAILED (log $log):" >&2
    grep -E 'ERROR|SUMMARY|invariant|Test unit written' "$log" | head -5 >&2 || true
    failed+=("$t")
  fi
done
if ((${#failed[@]})); then
  echo "fuzz-smoke: failures in ${failed[*]}" >&2
  exit 1
fi
echo "fuzz-smoke: all ${#targets[@]} targets clean (${secs} s each)"
