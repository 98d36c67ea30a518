#!/bin/bash
# MANUAL (issue 14; not in ctest): a live migration between two nested lab hosts on this machine. Boots two lab
# machines with run-xen-test.py, each with a second e1000 on a QEMU socket network (B listens on 127.0.0.1:PORT, A
# connects): B runs scenarios/manual-2host-b.sh (receiver, 192.168.77.2), A runs manual-2host-a.sh (an HVM guest with
# a simgpu-16 vGPU, migrated with `xl migrate` to B). Both dom0s copy the guest's heartbeat to their serial consoles;
# tick-gap.py stamps those lines with the host's clock and reports the largest gap, the guest's downtime.
# Take the lab lock around it: flock /work/notes/lab.lock tests/xen/manual/two-host-migrate.sh BUILD OUT
# docs/real-xen-testing.md, "Between two nested hosts, by hand".
set -u
here=$(cd "$(dirname "$0")" && pwd)
xen=$(dirname "$here")
build=$(realpath "${1:-build}")
out=${2:-/tmp/xvgpu-2host}
port=${XT_2HOST_PORT:-40777}
timeout=${XT_2HOST_TIMEOUT:-2400}
uuid=$(cat /proc/sys/kernel/random/uuid)
mkdir -p "$out"
rm -rf "$out/a" "$out/b" "$out/stop"
common=(--dm "$build/src/dm/xvgpu-dm" --ctl "$build/src/ctl/xvgpuctl" --xl-scripts "$(realpath "$xen/../../xl-scripts")"
  --guest-tools "$build/tests/xen/guest-tools" --dom0-tools "$build/tests/xen/dom0-tools" --cache-dir "$out/cache"
  --stall-dump 0 --attempts 1 --timeout "$timeout" --scenario-arg "uuid=$uuid")
python3 "$here/tick-gap.py" "$out" >"$out/ticks.txt" 2>&1 &
stamper=$!
"$xen/run-xen-test.py" --scenario manual-2host-b --work-dir "$out/b" "${common[@]}" \
  --scenario-arg self=192.168.77.2 \
  --extra-qemu-arg=-netdev --extra-qemu-arg="socket,id=mig,listen=127.0.0.1:$port" \
  --extra-qemu-arg=-device --extra-qemu-arg="e1000,netdev=mig,mac=52:54:00:77:00:02" >"$out/b.txt" 2>&1 &
b=$!
# A's QEMU connects to B's socket: start it once B's QEMU runs (the runner writes its command line just before).
for _ in $(seq 600); do
  [ -f "$out/b/qemu-cmdline.txt" ] && break
  kill -0 $b 2>/dev/null || break
  sleep 1
done
sleep 3
"$xen/run-xen-test.py" --scenario manual-2host-a --work-dir "$out/a" "${common[@]}" \
  --scenario-arg self=192.168.77.1 --scenario-arg peer=192.168.77.2 \
  --extra-qemu-arg=-netdev --extra-qemu-arg="socket,id=mig,connect=127.0.0.1:$port" \
  --extra-qemu-arg=-device --extra-qemu-arg="e1000,netdev=mig,mac=52:54:00:77:00:01" >"$out/a.txt" 2>&1 &
a=$!
wait $a
rc_a=$?
wait $b
rc_b=$?
touch "$out/stop"
wait $stamper
echo "A (sender): exit $rc_a, $out/a.txt"
grep -E '^\s+(PASS|FAIL|MISSING|SKIP|time|metric)|^(PASS|FAIL)' "$out/a.txt"
echo "B (receiver): exit $rc_b, $out/b.txt"
grep -E '^\s+(PASS|FAIL|MISSING|SKIP|time|metric)|^(PASS|FAIL)' "$out/b.txt"
cat "$out/ticks.txt"
[ $rc_a = 0 ] && [ $rc_b = 0 ]
