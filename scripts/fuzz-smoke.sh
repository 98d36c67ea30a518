#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/) with clang, ASan and UBSan and runs each for a short, bounded time
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
targets=("$@")
((${#targets[@]})) || mapfile -t targets < <("$here/scripts/fuzz-targets.sh")

"$here/scripts/fuzz-build.sh" "$build" "$jobs" "${targets[@]}"

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
