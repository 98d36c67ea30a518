#!/usr/bin/env bash
# Prints one line counting the real-Xen lab's retries recorded in the runner's summary files (run-xen-test.py appends
# a LAB-RETRY line for each boot repeated after a lab fault and a LAB-GIVE-UP line when it stopped retrying), e.g.
#   lab retries: 0
#   lab retries: 2 (vgpu-hammer-pvh attempt 2: d1v0 triple fault before the guest's first marker ...; ...)
# Usage: scripts/lab-retries.sh SUMMARY...   (absent files count as none). Always exits 0.
retries=0
gave_up=0
details=()
for f in "$@"; do
  [[ -f "$f" ]] || continue
  while IFS= read -r line; do
    scenario=$(sed -n 's/.* scenario=\([^ ]*\).*/\1/p' <<<"$line")
    reason=$(sed -n 's/.* reason="\([^"]*\)".*/\1/p' <<<"$line")
    case "$line" in
      *" LAB-RETRY "*)
        retries=$((retries + 1))
        attempt=$(sed -n 's/.* attempt=\([0-9]*\).*/\1/p' <<<"$line")
        details+=("$scenario attempt $attempt: $reason")
        ;;
      *" LAB-GIVE-UP "*)
        gave_up=$((gave_up + 1))
        attempts=$(sed -n 's/.* attempts=\([0-9]*\).*/\1/p' <<<"$line")
        details+=("$scenario gave up after $attempts attempts: $reason")
        ;;
    esac
  done <"$f"
done
line="lab retries: $retries"
((gave_up == 0)) || line+=", $gave_up scenario(s) failed on lab faults alone"
if ((${#details[@]})); then
  joined=$(printf '%s; ' "${details[@]}")
  line+=" (${joined%; })"
fi
echo "$line"
