# MANUAL, not registered in ctest: the sending host of a live migration between two lab machines (issue 14), run
# together with manual-2host-b.sh by tests/xen/manual/two-host-migrate.sh (docs/real-xen-testing.md, "Between two
# nested hosts, by hand"). The machines are joined by a second network card on a QEMU socket network; this dom0 is
# SELF (scenario arg self=), the receiver PEER (peer=). The guest is migrate-hvm.sh's (simgpu-16 through
# xvgpu-qemu-wrapper, drawing with the engine in a loop), plus a heartbeat (guest task tick) that dom0 copies to its
# console as XT-TICK A lines, so the host can time the gap across the migration. xl's ssh command is a stand-in that
# connects stdin/stdout to PEER:8002, where manual-2host-b.sh's nc runs `xl migrate-receive`.
#   2a-net                 eth0 has SELF
#   2a-vgpu-dm-started     the wrapper started xvgpu-dm for the domain
#   2a-guest-runs          the guest prints the marker of this run's nonce
#   2a-screenshot-before   xvgpuctl screenshot equals the drawn pattern, pixel for pixel
#   2a-load-running        the guest's engine loop ran steps before the migration
#   2a-peer-ready          the receiver answered on PEER:8001
#   2a-migrate             xl migrate to PEER succeeded; the domain and its device model are gone from this host
# checks: 2a-net 2a-vgpu-dm-started 2a-guest-runs 2a-screenshot-before 2a-load-running 2a-peer-ready 2a-migrate
# needs: dm ctl xl-scripts guest-tools dom0-tools
# timeout: 2400
# shellcheck source=../dom0/lib.sh
. /etc/xentest/lib.sh
name=mig-hvm
type=simgpu-16
self=$(xt_scenario_arg self 192.168.77.1)
peer=$(xt_scenario_arg peer 192.168.77.2)
uuid=$(xt_scenario_arg uuid "")
[ -n "$uuid" ] || uuid=$(xt_new_nonce)
nonce=$(xt_new_nonce)
xt_pin_dom0
if ip addr flush dev eth0 && ip addr add "$self/24" dev eth0 && ip link set eth0 up; then
  xt_pass 2a-net "$(ip -o addr show dev eth0 | grep -o 'inet [0-9./]*')"
else
  xt_fail 2a-net "cannot put $self on eth0"
  exit 1
fi
xt_write_wrapper_cfg $name "$nonce" "tick,fbpattern,fbkeep,migload" "$uuid" $type
log=$(xt_console_log "$name")
xt_create_with_wrapper 2a $name
# The heartbeat to the console: the host stamps these lines (two-host-migrate.sh).
(tail -F "$log" 2>/dev/null | while IFS= read -r l; do
  case "$l" in GUEST-TICK*) echo "XT-TICK A ${l#GUEST-TICK }" ;; esac
done) &
xl unpause $name
xt_check_guest_runs 2a "$name" "$nonce" 900 || exit 1
xt_keep_frame 2a "$domid" "$log" "$uuid" 300 300 1024x768
xt_go "$domid" kept
xt_go "$domid" migload-start
if ! xt_wait_grep "$log" '^GUEST-MIGLOAD-(PROGRESS steps=|ERROR|ABSENT)' 600 || ! grep -q '^GUEST-MIGLOAD-PROGRESS' "$log"; then
  grep -E '^GUEST-MIGLOAD' "$log" | xt_relay - guest
  xt_fail 2a-load-running "the guest's engine loop did not get going"
  exit 1
fi
xt_pass 2a-load-running "$(grep -m1 '^GUEST-MIGLOAD-PROGRESS' "$log" | tr -d '\r')"

# The receiver says it is listening (manual-2host-b.sh answers B-READY on port 8001).
t=$(xt_uptime)
while ! nc "$peer" 8001 </dev/null 2>/dev/null | grep -q B-READY; do
  awk -v a="$t" -v b="$(xt_uptime)" 'BEGIN { exit !(b - a > 900) }' && { xt_fail 2a-peer-ready "no answer from $peer:8001"; exit 1; }
  sleep 2
done
xt_pass 2a-peer-ready "$peer:8001 answered after $(xt_since "$t") s"
# The link's throughput, for reading the downtime: 8 MiB to the receiver's port 8003, which discards it.
t=$(xt_uptime)
if dd if=/dev/zero bs=1M count=8 2>/dev/null | nc "$peer" 8003; then
  xt_metric 2a-link-8mib "$(xt_since "$t")" s
fi

cat >/tmp/xt-ssh <<SSH
#!/bin/sh
# xl migrate runs "\$0 HOST xl migrate-receive ...": the receiver is already waiting on $peer:8002 (manual-2host-b.sh).
exec nc $peer 8002
SSH
chmod +x /tmp/xt-ssh
xt_log "migrating domain $domid to $peer"
xt_migrate 2a $name "$peer"
grep -E "saved|stopp|exit" /run/xvgpu/dm-"$domid".log 2>/dev/null | xt_relay - "xvgpu-dm (sender)"
if [ "$migrated" = 1 ] && xt_exited "$old_dm" && ! xl list "$name" >/dev/null 2>&1; then
  xt_pass 2a-migrate "domain $domid went to $peer; its device model (pid $old_dm) is gone"
else
  tail -n 30 /run/xvgpu/dm-"$domid".log 2>/dev/null | xt_relay - "xvgpu-dm log"
  xl list | xt_relay - "xl list"
  xt_fail 2a-migrate "migrated=$migrated old dm $(xt_exited "$old_dm" && echo gone || echo alive)"
fi
sleep 5
