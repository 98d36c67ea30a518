#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/) with clang, ASan and UBSan and runs each for a short, bounded time
# on its seed corpus (fuzz/corpus/<target>/), for CI. A crash fails the script and leaves the
# input in $OUT/<target>-crash-*; turn it into a regression entry by copying it into
# fuzz/corpus/<target>/ (ctest replays every corpus file, label unit) once fixed.
#
# Usage: scripts/fuzz-smoke.sh [SECONDS_PER_TARGET] [TARGET...]    (default 20 s, all targets)
# Env:   BUILD_DIR (default build-fuzz), JOBS (default 2: builds with, and runs, that many at a time),
#        OUT (default $BUILD_DIR/fuzz-out)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-20}
shift || true
build=${BUILD_DIR:-$here/build-fuzz}
jobs=${JOBS:-2}
out=${OUT:-$build/fuzz-out}
targets=("$@")
((${#targets[@]})) || mapfile -t targets < <("$here/scripts/fuzz-targets.sh")

# A third-party leak with a known cause is suppressed (the file says which and why).
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$here/scripts/lsan-suppressions.txt}
"$here/scripts/fuzz-build.sh" "$build" "$jobs" "${targets[@]}"

# shellcheck source-path=SCRIPTDIR source=fuzz-run.sh
. "$here/scripts/fuzz-run.sh"
fuzz_run_all "$secs" "${targets[@]}"
failed=()
for t in "${targets[@]}"; do
  log=$out/$t.log
  if [[ "$(cat "$out/$t.rc" 2>/dev/null)" == 0 ]]; then
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
