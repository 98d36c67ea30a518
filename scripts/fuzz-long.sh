#!/usr/bin/env bash
# Long fuzzing run: every target (or the ones named) for MINUTES each from its committed corpus,
# JOBS at a time, then a table: target | exec/s | executions | CPU seconds the fuzzer used and
# executions per CPU second (what the code does with a core to itself: on a shared machine exec/s
# also measures the neighbours) | coverage at start and end (cov/ft) | executions at the last new
# coverage | findings. Findings (crash, leak, timeout, out-of-memory inputs) stay in
# $OUT/<target>-*; a finding makes the script fail. With MERGE=1, inputs of the run that add
# coverage and are at most MERGE_MAX_BYTES long are merged into fuzz/corpus/<target>
# (libFuzzer -merge=1), to be committed.
#
# Usage: scripts/fuzz-long.sh MINUTES [TARGET...]
# Env:   BUILD_DIR (default build-fuzz), JOBS (default 2), OUT (default $BUILD_DIR/fuzz-long),
#        MERGE (default 0), MERGE_MAX_BYTES (default 4096)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
(($# >= 1)) || { echo "usage: $0 MINUTES [TARGET...]" >&2; exit 2; }
minutes=$1
shift
if ! [[ $minutes =~ ^[0-9]+$ ]] || ((minutes == 0)); then
  echo "fuzz-long: MINUTES must be a positive integer, not '$minutes'" >&2
  exit 2
fi
build=${BUILD_DIR:-$here/build-fuzz}
jobs=${JOBS:-2}
out=${OUT:-$build/fuzz-long}
merge=${MERGE:-0}
merge_max=${MERGE_MAX_BYTES:-4096}
targets=("$@")
((${#targets[@]})) || mapfile -t targets < <("$here/scripts/fuzz-targets.sh")

# A third-party leak with a known cause is suppressed (the file says which and why).
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$here/scripts/lsan-suppressions.txt}
"$here/scripts/fuzz-build.sh" "$build" "$jobs" "${targets[@]}"

echo "fuzz-long: ${#targets[@]} targets, $minutes min each, $jobs at a time; load before: $(uptime | sed 's/.*load average: //')"
# shellcheck source-path=SCRIPTDIR source=fuzz-run.sh
. "$here/scripts/fuzz-run.sh"
fuzz_run_all $((minutes * 60)) "${targets[@]}"
echo "fuzz-long: load after: $(uptime | sed 's/.*load average: //')"

stat() {  # log name
  sed -n "s/^stat::$2: *//p" "$1" | tail -1
}
failed=()
printf '| %-17s | %8s | %12s | %6s | %10s | %-21s | %-21s | %-16s | %s\n' target exec/s executions "CPU s" \
  "exec/CPU s" "cov/ft at start" "cov/ft at end" "last new cov at" findings
printf '|%s|%s|%s|%s|%s|%s|%s|%s|%s\n' -------------------  ---------- -------------- -------- ------------ \
  ----------------------- ----------------------- ------------------ ---------
for t in "${targets[@]}"; do
  log=$out/$t.log
  rc=$(cat "$out/$t.rc" 2>/dev/null || echo 1)
  execs=$(stat "$log" number_of_executed_units)
  rate=$(stat "$log" average_exec_per_sec)
  start=$(grep -m1 -E '^#[0-9]+[[:space:]]+INITED' "$log" | sed -E 's/.*cov: ([0-9]+) ft: ([0-9]+).*/\1\/\2/' || true)
  end=$(grep -E '^#[0-9]+[[:space:]]+(NEW|REDUCE|pulse|DONE|INITED)' "$log" | tail -1 |
    sed -E 's/.*cov: ([0-9]+) ft: ([0-9]+).*/\1\/\2/' || true)
  last_new=$(grep -E '^#[0-9]+[[:space:]]+NEW' "$log" | tail -1 | sed -E 's/^#([0-9]+).*/#\1/' || true)
  findings=$(find "$out" -maxdepth 1 -name "$t-*" -type f | wc -l)
  if [[ $rc != 0 ]] && ((findings == 0)); then findings="exit $rc"; fi
  [[ $findings == 0 ]] || failed+=("$t")
  cpu=$(cat "$out/$t.cpu" 2>/dev/null || true)
  per_cpu='?'
  [[ -n $execs && -n $cpu ]] && ((cpu > 0)) && per_cpu=$((execs / cpu))
  printf '| %-17s | %8s | %12s | %6s | %10s | %-21s | %-21s | %-16s | %s\n' "$t" "${rate:-?}" "${execs:-?}" \
    "${cpu:-?}" "$per_cpu" "${start:-?}" "${end:-?}" "${last_new:-none}" "$findings"
done

if [[ $merge == 1 ]]; then
  for t in "${targets[@]}"; do
    small=$out/$t.small
    rm -rf "$small"
    mkdir -p "$small"
    find "$out/$t" -type f -size -$((merge_max + 1))c -exec cp {} "$small/" \;
    before=$(find "$here/fuzz/corpus/$t" -type f | wc -l)
    "$build/fuzz/${t}_fuzzer" -merge=1 -timeout=30 -rss_limit_mb=4096 "$here/fuzz/corpus/$t" "$small" \
      >"$out/$t.merge.log" 2>&1 || { echo "fuzz-long: merging $t failed (log $out/$t.merge.log)" >&2; failed+=("$t"); }
    after=$(find "$here/fuzz/corpus/$t" -type f | wc -l)
    echo "fuzz-long: $t corpus $before -> $after inputs"
  done
fi

if ((${#failed[@]})); then
  echo "fuzz-long: findings or failures in ${failed[*]} (inputs and logs in $out)" >&2
  exit 1
fi
