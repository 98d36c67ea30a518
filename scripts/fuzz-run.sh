# shellcheck shell=bash disable=SC2154  # build, here, out and jobs come from the caller
# Sourced by fuzz-smoke.sh and fuzz-long.sh: runs libFuzzer targets from their committed corpora,
# JOBS at a time. The caller sets build (the fuzz build dir), here (the tree), out (results) and
# jobs. Each target leaves in $out: <target>.log, .rc (its exit status), .cpu (CPU seconds used,
# all its threads), its new inputs in <target>/ and findings as <target>-*.

fuzz_run_one() {  # target seconds
  local t=$1 work=$out/$1 rc=0
  rm -rf "$work" "$out/$t"-*
  mkdir -p "$work"  # new inputs go here; the committed corpus is only read
  "$build/fuzz/${t}_fuzzer" -max_total_time="$2" -timeout=30 -rss_limit_mb=4096 -print_final_stats=1 \
    -artifact_prefix="$out/$t-" "$work" "$here/fuzz/corpus/$t" >"$out/$t.log" 2>&1 || rc=$?
  echo "$rc" >"$out/$t.rc"
  # On a shared machine exec/s says as much about the neighbours as about the code: the CPU time
  # too. `times` runs in this shell (in a pipeline's subshell its children would have used nothing).
  times >"$out/$t.times"
  sed -n 2p "$out/$t.times" | sed 's/m/ /g; s/s//g' | awk '{printf "%.0f\n", $1 * 60 + $2 + $3 * 60 + $4}' \
    >"$out/$t.cpu"
}

fuzz_run_all() {  # seconds target...: each target for that long, $jobs at a time
  local secs=$1 running=0 t
  shift
  mkdir -p "$out"
  for t in "$@"; do
    if ((running >= jobs)); then
      wait -n || true
      running=$((running - 1))
    fi
    fuzz_run_one "$t" "$secs" &
    running=$((running + 1))
  done
  wait || true
}
