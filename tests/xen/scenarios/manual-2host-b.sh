# MANUAL, not registered in ctest: the receiving host of a live migration between two lab machines (issue 14), run
# together with manual-2host-a.sh by tests/xen/manual/two-host-migrate.sh (docs/real-xen-testing.md, "Between two
# nested hosts, by hand"). This dom0 is SELF (scenario arg self=) on the second network card; busybox nc runs one
# `xl migrate-receive` for the connection on port 8002, answers B-READY on port 8001 and counts what comes to 8003.
# After the migration the guest's heartbeat goes to this console as XT-TICK B lines, its engine loop goes on here, and
# the screenshot is its last frame.
#   2b-net                 eth0 has SELF
#   2b-receive             xl migrate-receive ended with status 0 and the domain runs here
#   2b-restore             this host's xvgpu-dm restored the vGPU (UUID = scenario arg uuid=) from the stream
#   2b-guest-alive         the guest's heartbeat goes on on this host
#   2b-engine-loop         the engine loop ran steps here; every step's verdict over the whole run ok, MSIs =
#                          flagged descriptors, the driver's PM restore ran once
#   2b-screenshot-after    xvgpuctl screenshot here is the frame the engine drew last, pixel exact
# checks: 2b-net 2b-receive 2b-restore 2b-guest-alive 2b-engine-loop 2b-screenshot-after
# needs: dm ctl xl-scripts guest-tools dom0-tools
# timeout: 2400
. /etc/xentest/lib.sh
name=mig-hvm
self=$(xt_scenario_arg self 192.168.77.2)
uuid=$(xt_scenario_arg uuid "")
xt_pin_dom0
if ip addr flush dev eth0 && ip addr add "$self/24" dev eth0 && ip link set eth0 up; then
  xt_pass 2b-net "$(ip -o addr show dev eth0 | grep -o 'inet [0-9./]*')"
else
  xt_fail 2b-net "cannot put $self on eth0"
  exit 1
fi
cat >/tmp/recv.sh <<'RECV'
#!/bin/sh
# stdin and stdout are the sender's connection; xl's messages must not go into it.
xl migrate-receive 2>/tmp/recv.err
echo $? >/tmp/recv.rc
RECV
cat >/tmp/ready.sh <<'READY'
#!/bin/sh
echo B-READY
READY
chmod +x /tmp/recv.sh /tmp/ready.sh
nc -l -p 8002 -e /tmp/recv.sh &
# The sender measures the link by sending 8 MiB here first; the connection ends once all of it is read.
cat >/tmp/sink.sh <<'SINK'
#!/bin/sh
wc -c >/tmp/sink.bytes
SINK
chmod +x /tmp/sink.sh
nc -l -p 8003 -e /tmp/sink.sh &
(while :; do nc -l -p 8001 -e /tmp/ready.sh; done) >/dev/null 2>&1 &
# xenconsoled names the incoming domain's log after the name it had when it appeared.
log=$(xt_console_log "$name--incoming")
(while [ ! -f "$log" ]; do sleep 0.2; done; tail -F "$log" 2>/dev/null | while IFS= read -r l; do
  case "$l" in GUEST-TICK*) echo "XT-TICK B ${l#GUEST-TICK }" ;; esac
done) &
xt_log "listening on $self:8002 for the migration"
t=$(xt_uptime)
while [ ! -f /tmp/recv.rc ]; do
  awk -v a="$t" -v b="$(xt_uptime)" 'BEGIN { exit !(b - a > 2000) }' && break
  sleep 1
done
xt_relay /tmp/recv.err "xl migrate-receive"
xt_log "link probe: $(cat /tmp/sink.bytes 2>/dev/null) bytes received on port 8003"
domid=$(xl domid $name 2>/dev/null)
if [ "$(cat /tmp/recv.rc 2>/dev/null)" = 0 ] && [ -n "$domid" ]; then
  xt_pass 2b-receive "domain $domid, xl migrate-receive ended $(xt_since "$t") s after the listener started"
else
  xl list | xt_relay - "xl list"
  xt_fail 2b-receive "xl migrate-receive status '$(cat /tmp/recv.rc 2>/dev/null)', domain '$domid'"
  exit 1
fi
dmlog=/run/xvgpu/dm-$domid.log
grep -E "restor|reserv|shared" "$dmlog" 2>/dev/null | xt_relay - "xvgpu-dm (receiver)"
restored_ms=$(sed -n "s/.*vGPU $uuid restored from .* in \([0-9]*\) ms.*/\1/p" "$dmlog" 2>/dev/null | tail -n1)
if [ -n "$restored_ms" ]; then
  xt_metric 2b-vgpu-state-restore "$restored_ms" ms
  xt_pass 2b-restore "vGPU $uuid restored in $restored_ms ms"
else
  tail -n 30 "$dmlog" 2>/dev/null | xt_relay - "xvgpu-dm log"
  xt_fail 2b-restore "no 'vGPU $uuid restored from' in $dmlog"
fi
n0=$(grep -c '^GUEST-TICK' "$log" 2>/dev/null)
sleep 5
n1=$(grep -c '^GUEST-TICK' "$log" 2>/dev/null)
if [ "${n1:-0}" -gt "${n0:-0}" ]; then
  xt_pass 2b-guest-alive "$((n1 - n0)) heartbeats in 5 s here ($n1 since the migration)"
else
  tail -n 20 "$log" | xt_relay - guest
  xt_fail 2b-guest-alive "no heartbeat from the guest in 5 s ($n1 lines)"
fi
xt_wait_grep "$log" '^GUEST-MIGLOAD-PROGRESS steps=[0-9]* restores=1' 600 || true
xt_go "$domid" migload-stop
if ! xt_wait_grep "$log" '^GUEST-MIGLOAD steps=' 600; then
  grep -v '^GUEST-TICK' "$log" | tail -n 30 | xt_relay - guest
  xt_fail 2b-engine-loop "the guest's engine loop did not report after the migration"
  xt_fail 2b-screenshot-after "no frame to compare"
  exit 1
fi
sleep 1
line=$(grep -m1 '^GUEST-MIGLOAD steps=' "$log" | tr -d '\r')
grep -E '^GUEST-MIGLOAD-(FIRST-BAD|PROC)' "$log" | xt_relay - guest
progress_after=$(grep -c '^GUEST-MIGLOAD-PROGRESS steps=[0-9]* restores=1' "$log")
problems=$(xt_migload_problems "$line" "$progress_after")
if [ -z "$problems" ]; then
  xt_pass 2b-engine-loop "$(xt_kv "$line" steps) steps across the migration ($progress_after progress marks here): $(xt_kv "$line" jobs) engine jobs, $(xt_kv "$line" msis) MSIs = flagged descriptors"
else
  xt_fail 2b-engine-loop "$line:$problems"
fi
bands=$(xt_kv "$line" bands)
xt_check_migload_frame 2b-screenshot-after "$uuid" "$bands"
xt_go "$domid" migload-done
xl destroy $name 2>/dev/null
