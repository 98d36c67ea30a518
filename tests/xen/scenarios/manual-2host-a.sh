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
XT_GUEST_MEMORY=128
XT_GUEST_CMDLINE="vt.global_cursor_default=0 iomem=relaxed xentest.vgpu=0000:00:05.0" \
  xt_write_cfg /tmp/$name.cfg $name hvm "$nonce" "tick,fbpattern,fbkeep,migload" \
  "videoram = 16" \
  "device_model_override = \"$XT_XL_SCRIPTS/xvgpu-qemu-wrapper\"" \
  "device_model_args = [ \"-xvgpu\", \"uuid=$uuid,type=$type,bdf=00:05.0,vnc=off\", \"-xvgpu-console-input\", \"off\" ]"
log=$(xt_console_log "$name")
if ! xl create -p /tmp/$name.cfg >/tmp/$name-create.log 2>&1; then
  cat /tmp/$name-create.log
  xt_fail 2a-vgpu-dm-started "xl create -p with the wrapper failed"
  exit 1
fi
domid=$(xl domid $name)
old_dm=$(xt_dm_pid "$domid")
if [ -n "$old_dm" ]; then
  xt_pass 2a-vgpu-dm-started "xvgpu-dm pid $old_dm serves domain $domid"
else
  xt_fail 2a-vgpu-dm-started "no xvgpu-dm for domain $domid"
  exit 1
fi
# The heartbeat to the console: the host stamps these lines (two-host-migrate.sh).
(tail -F "$log" 2>/dev/null | while IFS= read -r l; do
  case "$l" in GUEST-TICK*) echo "XT-TICK A ${l#GUEST-TICK }" ;; esac
done) &
xl unpause $name
xt_check_guest_runs 2a "$name" "$nonce" 900 || exit 1
if ! xt_wait_grep "$log" '^GUEST-FB-READY fb=/dev/fb' 300; then
  xt_fail 2a-screenshot-before "the guest's bochs driver gave no framebuffer"
  exit 1
fi
xt_go "$domid" draw
xt_wait_grep "$log" '^GUEST-FB mode=' 300 || { xt_fail 2a-screenshot-before "the guest did not draw"; exit 1; }
xt_go "$domid" screenshot
xt_wait_grep "$log" '^GUEST-FB-KEPT mode=1024x768' 300 || { xt_fail 2a-screenshot-before "no kept frame"; exit 1; }
try=1
while :; do
  if xvgpuctl screenshot "$uuid" /tmp/before.png >/tmp/shot.txt 2>&1 && xt-pngcheck /tmp/before.png 1024 768 >>/tmp/shot.txt 2>&1; then
    xt_pass 2a-screenshot-before "$(tail -n1 /tmp/shot.txt) (screenshot $try)"
    break
  fi
  [ $try -ge 5 ] && { xt_fail 2a-screenshot-before "$(tr '\n' ' ' </tmp/shot.txt)"; exit 1; }
  try=$((try + 1))
  sleep 1
done
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
t=$(xt_uptime)
if xl migrate -s /tmp/xt-ssh $name "$peer" >/tmp/$name-migrate.log 2>&1; then
  xt_time 2a-xl-migrate "$(xt_since "$t")"
  migrated=1
else
  migrated=0
fi
xt_relay /tmp/$name-migrate.log "xl migrate"
cat /run/xvgpu/qmp-proxy-"$domid".log 2>/dev/null | xt_relay - "qmp proxy (sender)"
k=0
while [ -n "$old_dm" ] && ! xt_exited "$old_dm" && [ $k -lt 50 ]; do sleep 0.2; k=$((k + 1)); done
grep -E "saved|stopp|exit" /run/xvgpu/dm-"$domid".log 2>/dev/null | xt_relay - "xvgpu-dm (sender)"
saved_ms=$(sed -n 's/.*device state of [0-9]* vGPU(s) saved to .* (\([0-9]*\) bytes, \([0-9]*\) ms).*/\2/p' /run/xvgpu/dm-"$domid".log 2>/dev/null | tail -n1)
state_bytes=$(sed -n 's/.*device state of [0-9]* vGPU(s) saved to .* (\([0-9]*\) bytes, \([0-9]*\) ms).*/\1/p' /run/xvgpu/dm-"$domid".log 2>/dev/null | tail -n1)
[ -n "$saved_ms" ] && xt_metric 2a-vgpu-state-save "$saved_ms" ms
[ -n "$state_bytes" ] && xt_metric 2a-vgpu-state-size "$state_bytes" bytes
if [ "$migrated" = 1 ] && xt_exited "$old_dm" && ! xl list "$name" >/dev/null 2>&1; then
  xt_pass 2a-migrate "domain $domid went to $peer; its device model (pid $old_dm) is gone"
else
  tail -n 30 /run/xvgpu/dm-"$domid".log 2>/dev/null | xt_relay - "xvgpu-dm log"
  xl list | xt_relay - "xl list"
  xt_fail 2a-migrate "migrated=$migrated old dm $(xt_exited "$old_dm" && echo gone || echo alive)"
fi
sleep 5
