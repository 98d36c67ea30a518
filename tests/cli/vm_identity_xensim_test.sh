#!/bin/bash
# vGPUs belong to a VM, not to a domain ID, end to end on xensimd: definitions by VM UUID or
# name, start by VM, the refusal of another VM's domain, the VM shown by xvgpuctl and received
# by the vendor (the example plugin logs what start() got), autostart, the deprecated
# definitions by domain ID, the hot-add room, and the device model's exit on domain death.
# Usage: vm_identity_xensim_test.sh BUILD_DIR
set -uo pipefail
build=$(cd "$1" && pwd)
ctl=$build/src/ctl/xvgpuctl
xensim=$build/src/xensim/xensim
plugin=$build/tests/gpu/minimal_plugin.so
# shellcheck source=xensim_env.sh
source "$(dirname "$0")/xensim_env.sh" xvgpu-vm
json_is() { python3 -c "import json,sys; d=json.load(open('$tmp/out')); sys.exit(0 if ($1) else 1)"; }
U1=6f1c5b2e-1d3a-4c5b-9e7f-0a1b2c3d4e51
U2=6f1c5b2e-1d3a-4c5b-9e7f-0a1b2c3d4e52
U3=6f1c5b2e-1d3a-4c5b-9e7f-0a1b2c3d4e53
U4=6f1c5b2e-1d3a-4c5b-9e7f-0a1b2c3d4e54
VA=0e3c3d2a-1111-4222-8333-44445555aaaa
VB=0e3c3d2a-1111-4222-8333-44445555bbbb

"$xensim" start >/dev/null || { echo "cannot start xensimd"; exit 1; }
mkdir -p "$XVGPU_RUN_DIR"
da=$("$xensim" create --ram 64 --uuid "$VA" --name vm-a)
db=$("$xensim" create --ram 64 --uuid "$VB" --name vm-b)

# --- definitions by VM ---
check "define --vm NAME" test "$(rc_of "$ctl" define --uuid "$U1" --type simgpu-16 --vm vm-a --autostart)" -eq 0
check "define --vm UUID" test "$(rc_of "$ctl" define --uuid "$U2" --type simgpu-16 --vm "${VA^^}" --bdf 00:06.0)" -eq 0
check "define --domain: accepted" test "$(rc_of "$ctl" define --uuid "$U3" --type simgpu-16 --domain "$db")" -eq 0
check "define --domain: deprecation warning" grep -q "warning: --domain $db is deprecated" "$tmp/err"
check "define --vm and --domain: refused (exit 2)" \
  test "$(rc_of "$ctl" define --uuid "$U4" --type simgpu-16 --vm vm-a --domain "$da")" -eq 2
check "define --autostart without --vm: refused (exit 2)" \
  test "$(rc_of "$ctl" define --uuid "$U4" --type simgpu-16 --autostart)" -eq 2
check "define --vm with a bad name: refused (exit 2)" \
  test "$(rc_of "$ctl" define --uuid "$U4" --type simgpu-16 --vm 'a/b')" -eq 2
check "list --json: VMs of the definitions" bash -c "
  '$ctl' --json list >'$tmp/out' && python3 -c \"
import json; l={r['uuid']: r for r in json.load(open('$tmp/out'))}
assert l['$U1']['vm'] == {'uuid': None, 'name': 'vm-a'}, l['$U1']
assert l['$U2']['vm'] == {'uuid': '$VA', 'name': None}, l['$U2']
assert l['$U1']['autostart'] is True and l['$U2']['autostart'] is False
assert l['$U3']['vm'] is None and l['$U3']['domain'] == $db\""

# --- start by VM: both definitions of vm-a, the VM checked and shown ---
check "start --vm vm-a" test "$(rc_of "$ctl" start --vm vm-a --dm-arg=--log-level=debug)" -eq 0
check "the device model serves vm-a's domain" test -f "$XVGPU_RUN_DIR/dm-$da.pid"
check "xvgpu-dm was told the VM (--vm)" grep -q -- "--vm=vm-a" "/proc/$(cat "$XVGPU_RUN_DIR/dm-$da.pid")/cmdline"
check "status --json: the VM's UUID and name, per vGPU too" bash -c "
  '$ctl' --json status --domain $da >'$tmp/out' && python3 -c \"
import json; s=json.load(open('$tmp/out'))[0]
assert s['vm'] == {'uuid': '$VA', 'name': 'vm-a'}, s['vm']
assert sorted(v['uuid'] for v in s['vgpus']) == ['$U1', '$U2'], s['vgpus']
assert all(v['vm'] == {'uuid': '$VA', 'name': 'vm-a'} for v in s['vgpus'])
assert s['direct_memory']['hot_add_room_bytes'] == 0 and s['direct_memory']['vram_bytes'] == 2 * (16 << 20), s['direct_memory']\""
check "status (table): the VM" bash -c "'$ctl' status --domain $da | grep '$U1' | grep -q 'vm-a ($VA)'"
check "list --json: running vGPUs show the VM" bash -c "
  '$ctl' --json list --active >'$tmp/out' && python3 -c \"
import json; l={r['uuid']: r for r in json.load(open('$tmp/out'))}
assert l['$U2']['vm'] == {'uuid': '$VA', 'name': 'vm-a'} and l['$U2']['running_domain'] == $da, l\""
check "get --json: the VM" bash -c "
  '$ctl' --json get $U1 >'$tmp/out' && python3 -c \"
import json; g=json.load(open('$tmp/out')); assert g['vm'] == {'uuid': '$VA', 'name': 'vm-a'}, g\""
"$ctl" stop --domain "$da" >/dev/null

# --- the example plugin (a dlopen'ed vendor) gets them too ---
"$ctl" --vendor-plugin "$plugin" start --domain "$da" --vgpu "uuid=$U4,type=minimal-1" >/dev/null 2>&1
check "plugin vendor: started" test -f "$XVGPU_RUN_DIR/dm-$da.pid"
check "plugin vendor: start() got the VM's UUID and name" \
  grep -q "\[minimal\]: vGPU $U4 serves domain $da: VM $VA 'vm-a'" "$XVGPU_RUN_DIR/dm-$da.log"
"$ctl" stop --domain "$da" >/dev/null

# --- another VM's domain is refused ---
check "start --vm vm-a --domain of vm-b: refused by xvgpuctl" \
  test "$(rc_of "$ctl" start --vm vm-a --domain "$db")" -eq 1
check "refusal names both VMs" grep -q "VM vm-a is not domain $db (that is VM $VB 'vm-b')" "$tmp/err"
check "xvgpu-dm itself refuses another VM's domain (exit 1)" \
  test "$(rc_of "$XVGPU_DM" --domain "$db" --vm "$VA" --vgpu "uuid=$U4,type=simgpu-16" \
    --control-socket "$tmp/x.sock" --pidfile "$tmp/x.pid" --xenstore-node none)" -eq 1
check "xvgpu-dm's refusal names the VMs" grep -q -- "--vm $VA: domain $db is VM $VB 'vm-b', not this VM" "$tmp/err"
check "xvgpu-dm's refusal: nothing left" test ! -e "$tmp/x.sock" -a ! -e "$tmp/x.pid"
check "start --vm of a VM not running (exit 4)" test "$(rc_of "$ctl" start --vm no-such-vm)" -eq 4

# --- autostart: only the autostart definitions of the domain's VM ---
check "start --autostart --domain" test "$(rc_of "$ctl" --json start --autostart --domain "$da")" -eq 0
check "start --autostart: only U1" json_is "d['vgpus'] == ['$U1']"
"$ctl" stop --domain "$da" >/dev/null
check "start --autostart for a VM without any: exit 0, nothing started" \
  test "$(rc_of "$ctl" --json start --autostart --domain "$db")" -eq 0 -a ! -e "$XVGPU_RUN_DIR/dm-$db.pid"

# --- the deprecated definition by domain ID still starts, with a warning ---
check "start of a definition by domain ID" test "$(rc_of "$ctl" start "$U3")" -eq 0
check "start of a definition by domain ID: warning" grep -q "deprecated" "$tmp/err"
"$ctl" stop --domain "$db" >/dev/null

# --- host memory: no hot-add room unless asked ---
pages() { "$xensim" status "$1" | sed -n 's/.* pages \([0-9]*\)\/.*/\1/p'; }
dc=$("$xensim" create --ram 64 --name vm-c)
p0=$(pages "$dc")
"$ctl" start --domain "$dc" --vgpu "uuid=$U4,type=simgpu-64" >/dev/null
p1=$(pages "$dc")
echo "metric: simgpu-64 without hot-add room: domain pages $p0 -> $p1 (+$((p1 - p0)), VRAM is 16384)"
# One guard frame above the VRAM pool, so that no VRAM frame is the domain's highest (Xen will not log that one
# as modified for live migration).
check "no hot-add room: the domain grows by its VRAM (and the guard frame) only" test "$((p1 - p0))" -eq $((16384 + 1))
check "hot-add of a VRAM type without room: refused, naming the option" \
  test "$(rc_of "$ctl" hot-add --domain "$dc" "uuid=$U3,type=simgpu-16")" -ne 0
check "hot-add refusal names --hot-add-room" grep -q -- "--hot-add-room" "$tmp/err"
"$ctl" stop --domain "$dc" >/dev/null
dd=$("$xensim" create --ram 64 --name vm-d)
p0=$(pages "$dd")
"$ctl" start --domain "$dd" --hot-add-room 16M --vgpu "uuid=$U4,type=simgpu-64" >/dev/null
p1=$(pages "$dd")
echo "metric: simgpu-64 with --hot-add-room 16M: domain pages $p0 -> $p1 (+$((p1 - p0)))"
check "--hot-add-room 16M: VRAM + 4096 pages + the guard frame" test "$((p1 - p0))" -eq $((16384 + 4096 + 1))
check "status shows the room" bash -c "'$ctl' --json status --domain $dd | grep -q '\"hot_add_room_bytes\": 16777216'"
check "hot-add within the room" test "$(rc_of "$ctl" hot-add --domain "$dd" "uuid=$U3,type=simgpu-16")" -eq 0

# --- domain death: @releaseDomain, the device model gone at once ---
# Exited: gone, or a zombie its new parent (init, since xvgpuctl detached it) has not reaped yet.
exited() { [[ ! -d /proc/$1 ]] || grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }
pid=$(cat "$XVGPU_RUN_DIR/dm-$dd.pid")
t0=$(date +%s%N)
"$xensim" destroy "$dd"
for _ in $(seq 300); do exited "$pid" && break; sleep 0.01; done
t1=$(date +%s%N)
check "domain death: the device model exits by itself" exited "$pid"
echo "metric: domain death -> xvgpu-dm exit: $(((t1 - t0) / 1000000)) ms (xensim, from the destroy command, polled every 10 ms)"
check "domain death noticed through @releaseDomain" grep -q "gone (@releaseDomain)" "$XVGPU_RUN_DIR/dm-$dd.log"
sed -n '/stopping: domain gone/,$p' "$XVGPU_RUN_DIR/dm-$dd.log" >"$tmp/teardown.log"
check "domain death: the teardown is in the log" grep -q "torn down" "$tmp/teardown.log"
check "domain death: no warning or error in the teardown" bash -c "! grep -E ' (warning|error|critical): ' '$tmp/teardown.log'"

# --- a reboot's handover: the VM's next domain while the previous domain's device model still holds the vGPU ---
# (xl restarts a VM with the same uuid=; here both domains exist for a moment, the old one's device model alive.)
VR=0e3c3d2a-1111-4222-8333-44445555cccc
U5=6f1c5b2e-1d3a-4c5b-9e7f-0a1b2c3d4e55
r1=$("$xensim" create --ram 64 --uuid "$VR" --name vm-r)
"$ctl" start --domain "$r1" --vgpu "uuid=$U5,type=simgpu-16" >/dev/null
old=$(cat "$XVGPU_RUN_DIR/dm-$r1.pid")
r2=$("$xensim" create --ram 64 --uuid "$VR" --name vm-r-next)
"$ctl" --timeout 30 start --domain "$r2" --vgpu "uuid=$U5,type=simgpu-16" >"$tmp/next.out" 2>&1 &
next=$!
sleep 1
check "handover: the next domain's start waits while the old device model holds the vGPU" kill -0 "$next"
"$xensim" destroy "$r1"
wait "$next"
check "handover: the next domain's device model starts once the old one is gone (exit 0)" test $? -eq 0
check "handover: the old device model exited" exited "$old"
check "handover: the wait is logged" grep -q "waited [0-9]* ms for the device model of the VM's previous domain $r1" \
  "$XVGPU_RUN_DIR/dm-$r2.log"
echo "metric: $(grep -o "waited [0-9]* ms" "$XVGPU_RUN_DIR/dm-$r2.log" | head -n1) for the previous domain's device model (xensim, destroyed 1 s in)"
ro=$("$xensim" create --ram 64 --uuid "$VA" --name vm-other)
t0=$(date +%s%N)
check "another VM's domain with the same vGPU: refused" test "$(rc_of "$ctl" start --domain "$ro" --vgpu "uuid=$U5,type=simgpu-16")" -ne 0
check "... at once (no handover wait), naming the holder's domain" \
  bash -c "(( $(date +%s%N) - $t0 < 5000000000 )) && grep -q 'already in use (process [0-9]*, type simgpu-16 on [^,]*, domain $r2)' '$tmp/err' '$XVGPU_RUN_DIR/dm-$ro.log'"
"$ctl" stop --domain "$r2" >/dev/null

# --- the systemd unit's sequence, keyed by the VM: start --foreground, status --wait, stop (xvgpu-dm@.service) ---
# stderr stands for the journal's stream (JOURNAL_STREAM names it): every line carries its syslog priority.
U6=6f1c5b2e-1d3a-4c5b-9e7f-0a1b2c3d4e56
U7=6f1c5b2e-1d3a-4c5b-9e7f-0a1b2c3d4e57
dh=$("$xensim" create --ram 64 --name vm-h)
"$ctl" define --uuid "$U6" --type simgpu-16 --vm vm-h >/dev/null
: >"$tmp/journal"
JOURNAL_STREAM=$(stat -c %d:%i "$tmp/journal") "$ctl" start --foreground --vm vm-h --hot-add-room 16M \
  >>"$tmp/journal" 2>&1 &
unit=$!
check "unit: status --wait --vm (ExecStartPost)" test "$(rc_of "$ctl" status --wait --vm vm-h)" -eq 0
check "unit: the device model is the unit's process" test "$(cat "$XVGPU_RUN_DIR/dm-$dh.pid")" = "$unit"
check "unit: journal lines carry their priority" grep -q "^<6>dom$dh info: " "$tmp/journal"
check "unit: no line without one" bash -c "! grep -v '^<[0-7]>' '$tmp/journal'"

# --- a second vGPU defined for the running VM: start hot-adds it, the first stays as it is ---
"$ctl" status --wait --domain "$dh" >/dev/null 2>&1
"$ctl" define --uuid "$U7" --type simgpu-16 --vm vm-h >/dev/null
check "second definition: start --domain, exit 0" test "$(rc_of "$ctl" start --domain "$dh")" -eq 0
check "... hot-added the second" grep -q "^hot-added $U7 at " "$tmp/out"
check "... the first already running" grep -q "^already running $U6" "$tmp/out"
check "... in the same device model, serving both" bash -c "
  '$ctl' --json status --vm vm-h >'$tmp/out' && python3 -c \"
import json; s=json.load(open('$tmp/out'))[0]
assert s['pid'] == $unit and sorted(v['uuid'] for v in s['vgpus']) == ['$U6', '$U7'], s\""
check "start again: nothing to add, exit 0" test "$(rc_of "$ctl" --json start --vm vm-h)" -eq 0
check "... says both run already" json_is "d['hot_added'] == [] and sorted(d['already_running']) == ['$U6', '$U7']"
check "unit: stop --vm (ExecStop), exit 0" test "$(rc_of "$ctl" stop --vm vm-h)" -eq 0
for _ in $(seq 200); do kill -0 "$unit" 2>/dev/null || break; sleep 0.05; done
kill "$unit" 2>/dev/null  # still there: the stop failed (checked above); not to wait forever
wait "$unit"
check "unit: its process exits 0" test $? -eq 0
check "stop --vm of a VM not running: exit 4" test "$(rc_of "$ctl" stop --vm no-such-vm)" -eq 4

# --- logs: one file per run, named by the VM and the start; dm-DOMID.log is the latest run's ---
log_of() { python3 -c "import json; print(json.load(open('$tmp/out'))['log'])"; }
rc_of "$ctl" --json start --domain "$dh" >/dev/null
log1=$(log_of)
check "run log: RUN_DIR/log/VM.START.log" bash -c "[[ '$log1' =~ ^$XVGPU_RUN_DIR/log/vm-h\.[0-9]{8}T[0-9]{6}Z(-[0-9]+)?\.log$ ]]"
check "run log: dm-DOMID.log is it" test "$(readlink -f "$XVGPU_RUN_DIR/dm-$dh.log")" = "$(readlink -f "$log1")"
pid1=$(cat "$XVGPU_RUN_DIR/dm-$dh.pid")
"$ctl" stop --domain "$dh" >/dev/null
rc_of "$ctl" --json start --domain "$dh" >/dev/null
log2=$(log_of)
check "next run: a log of its own" test "$log2" != "$log1" -a -s "$log2"
check "next run: dm-DOMID.log follows" test "$(readlink -f "$XVGPU_RUN_DIR/dm-$dh.log")" = "$(readlink -f "$log2")"
check "next run: nothing of the previous run in it" bash -c "! grep -q 'xvgpu-dm\[$pid1\]' '$log2'"
check "previous run's log kept" grep -q "xvgpu-dm\[$pid1\]" "$log1"
"$ctl" stop --domain "$dh" >/dev/null
# A run's log over its bound, under the serving phase's seccomp policy: cut in place, the device model serving on.
rc_of "$ctl" --json start --domain "$dh" --dm-arg=--log-max-size=64K --dm-arg=--log-level=debug >/dev/null
log3=$(log_of)
pid3=$(cat "$XVGPU_RUN_DIR/dm-$dh.pid")
python3 - "$XVGPU_RUN_DIR/dm-$dh.sock" <<'PY'
import socket, sys
for _ in range(1500):  # each request is a debug line
    s = socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[1])
    s.sendall(b'{"cmd":"status"}\n')
    while not s.recv(65536).endswith(b"\n"):
        pass
    s.close()
PY
check "bounded log: the device model still serves" test "$(rc_of "$ctl" status --domain "$dh")" -eq 0 -a -d "/proc/$pid3"
check "bounded log: within 64K" test "$(stat -c %s "$log3")" -le 65536
check "bounded log: the cut is marked" grep -q "^xvgpu-dm: \[log bound 65536 bytes: " "$log3"
check "bounded log: the start-up kept" grep -q "xvgpu-dm\[$pid3\] dom$dh info: ready: control socket" "$log3"
"$ctl" stop --domain "$dh" >/dev/null

echo "$fails failure(s)"
exit $((fails != 0))
