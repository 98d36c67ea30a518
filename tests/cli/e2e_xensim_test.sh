#!/bin/bash
# xvgpu-dm and xvgpuctl end to end on xensimd: readiness, each subcommand, bad arguments (exit 2,
# nothing left in Xen), hot-add/remove, define/list persistence, SIGTERM and domain death.
# Usage: e2e_xensim_test.sh BUILD_DIR
set -uo pipefail
build=$(cd "$1" && pwd)
dm=$build/src/dm/xvgpu-dm
ctl=$build/src/ctl/xvgpuctl
xensim=$build/src/xensim/xensim
workload=$build/src/demo/xvgpu-demo-workload
# shellcheck source=xensim_env.sh
source "$(dirname "$0")/xensim_env.sh" xvgpu-e2e
one_line_with() { [[ $(wc -l < "$tmp/err") -eq 1 ]] && grep -qF -- "$1" "$tmp/err"; }
U1=6f1c5b2e-1d3a-4c5b-9e7f-0a1b2c3d4e5f
U2=7f1c5b2e-1d3a-4c5b-9e7f-0a1b2c3d4e5f
U3=8f1c5b2e-1d3a-4c5b-9e7f-0a1b2c3d4e5f

"$xensim" start >/dev/null || { echo "cannot start xensimd"; exit 1; }
mkdir -p "$XVGPU_RUN_DIR"
d=$("$xensim" create --vcpus 2 --ram 128)

# --- bad arguments: exit 2, one line naming the argument, nothing in Xen ---
dmargs=(--control-socket "$tmp/run/x.sock" --pidfile "$tmp/run/x.pid")
bad() {  # bad NAME EXPECTED-TEXT ARGS...
  local name=$1 text=$2
  shift 2
  local rc
  rc=$(rc_of "$dm" "${dmargs[@]}" "$@")
  check "dm bad arg: $name -> exit 2" test "$rc" -eq 2
  check "dm bad arg: $name -> one line naming it" one_line_with "$text"
}
bad "no --domain" "--domain" --vgpu "uuid=$U1,type=simgpu-64"
bad "bad domain" "--domain 0" --domain 0
bad "unknown type" "unknown type 'nosuch'" --domain "$d" --vgpu "uuid=$U1,type=nosuch"
bad "unknown knob" "no knob 'bogus'" --domain "$d" --vgpu "uuid=$U1,type=simgpu-64,bogus=1"
bad "bad knob value" "engine_weight" --domain "$d" --vgpu "uuid=$U1,type=simgpu-64,engine_weight=99999"
bad "bad uuid" "not a UUID" --domain "$d" --vgpu "uuid=xyz,type=simgpu-64"
bad "bad plugin" "--vendor-plugin" --domain "$d" --vendor-plugin /nonexistent.so
bad "plugin that is not one" "--vendor-plugin" --domain "$d" --vendor-plugin /etc/hostname
bad "bad log level" "--log-level" --domain "$d" --log-level loud
check "nothing left behind: no control socket" test ! -e "$tmp/run/x.sock"
check "nothing left behind: no pidfile" test ! -e "$tmp/run/x.pid"
check "nothing left behind: domain untouched (0 ioreqs)" bash -c "'$xensim' status $d | grep -qiE 'ioreqs[^0-9]*0\\b'"

# --- xvgpuctl define / list / undefine persistence ---
check "define" test "$(rc_of "$ctl" define --uuid "$U1" --type simgpu-64 --domain "$d" --knob engine_weight=200)" -eq 0
check "define prints the uuid" grep -qx "$U1" "$tmp/out"
check "define duplicate refused (exit 1)" test "$(rc_of "$ctl" define --uuid "$U1" --type simgpu-16)" -eq 1
check "define unknown type (exit 3)" test "$(rc_of "$ctl" define --type nosuch)" -eq 3
check "define bad knob (exit 2)" test "$(rc_of "$ctl" define --type simgpu-64 --knob engine_weight=0)" -eq 2
check "definition file written" test -f "$XVGPU_CONFIG_DIR/$U1.json"
check "list shows it defined" bash -c "'$ctl' list | grep '$U1' | grep -q defined"
check "list --json" bash -c "'$ctl' --json list | python3 -c 'import json,sys; l=json.load(sys.stdin); assert l[0][\"uuid\"]==\"$U1\" and l[0][\"domain\"]==$d and l[0][\"knobs\"][\"engine_weight\"]==\"200\"'"
check "types lists simgpu-64" bash -c "'$ctl' types | grep -q simgpu-64"
check "types --json" bash -c "'$ctl' --json types | python3 -c 'import json,sys; t=json.load(sys.stdin); assert any(ty[\"name\"]==\"simgpu-16\" for g in t[\"gpus\"] for ty in g[\"types\"])'"

# --- start: readiness ---
check "start (exit 0)" test "$(rc_of "$ctl" start --domain "$d" --hot-add-room 16M --dm-arg=--log-level=debug)" -eq 0
check "ready: pidfile exists" test -f "$XVGPU_RUN_DIR/dm-$d.pid"
check "ready: control socket is owner-only" test "$(stat -c %a "$XVGPU_RUN_DIR/dm-$d.sock")" = 600
check "ready: xenstore state running" grep -q "device-model/$d/state=running" "$XVGPU_RUN_DIR/dm-$d.log"
check "start again refused while running (hot-add path needs new vGPUs)" \
  test "$(rc_of "$ctl" start --domain "$d" --vgpu "uuid=$U1,type=simgpu-64")" -ne 0
check "status shows the vGPU running" bash -c "'$ctl' status --domain $d | grep '$U1' | grep -q running"
check "list shows it running" bash -c "'$ctl' list | grep '$U1' | grep -q running"
check "status --json" bash -c "'$ctl' --json status | python3 -c 'import json,sys; s=json.load(sys.stdin); assert s[0][\"domid\"]==$d and s[0][\"vgpus\"][0][\"bdf\"]==\"00:05.0\"'"
"$xensim" unpause "$d"
check "guest reads the vGPU's PCI ID" bash -c "'$xensim' pci $d read 00:05.0 0 | grep -qi 11111234"

# --- knobs, stats, screenshot (after the guest workload drew something) ---
check "get engine_weight = 200 (creation knob)" test "$("$ctl" get "$U1" engine_weight)" = 200
check "set engine_weight 50" test "$(rc_of "$ctl" set "$U1" engine_weight 50)" -eq 0
check "get reads back 50" test "$("$ctl" get "$U1" engine_weight)" = 50
check "set out of range refused (exit 2, man page: invalid knob value)" test "$(rc_of "$ctl" set "$U1" engine_weight 0)" -eq 2
check "set unknown knob (exit 3)" test "$(rc_of "$ctl" set "$U1" nosuch 1)" -eq 3
check "get of a vGPU not running (exit 4)" test "$(rc_of "$ctl" get "$U3")" -eq 4
check "guest workload" "$workload" --domain "$d" --sprites 8
check "stats show engine jobs" bash -c "'$ctl' --json stats $U1 | python3 -c 'import json,sys; s=json.load(sys.stdin); assert s[\"vgpus\"][0][\"counters\"][\"engine_jobs\"]>=10 and s[\"dm\"][\"requests\"]>0'"
check "stats --domain" test "$(rc_of "$ctl" stats --domain "$d")" -eq 0
check "screenshot" test "$(rc_of "$ctl" screenshot "$U1" "$tmp/shot.png")" -eq 0
check "screenshot is a 1024x768 PNG" python3 -c "
import struct,sys
b=open('$tmp/shot.png','rb').read(32)
assert b[:8]==b'\x89PNG\r\n\x1a\n', b[:8]
w,h=struct.unpack('>II', b[16:24]); assert (w,h)==(1024,768), (w,h)"

# --- hot-add / hot-remove ---
check "hot-add" test "$(rc_of "$ctl" hot-add --domain "$d" "uuid=$U2,type=simgpu-16,bdf=00:06.0")" -eq 0
check "hot-added vGPU answers config reads" bash -c "'$xensim' pci $d read 00:06.0 0 | grep -qi 11111234"
check "status shows two vGPUs" test "$("$ctl" --json status --domain "$d" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)[0]["vgpus"]))')" -eq 2
check "hot-add of a taken slot refused" test "$(rc_of "$ctl" hot-add --domain "$d" "uuid=$U3,type=simgpu-16,bdf=00:06.0")" -ne 0
check "hot-add duplicate uuid refused" test "$(rc_of "$ctl" hot-add --domain "$d" "uuid=$U2,type=simgpu-16")" -ne 0
check "hot-remove" test "$(rc_of "$ctl" hot-remove "$U2")" -eq 0
check "removed vGPU reads all ones" bash -c "'$xensim' pci $d read 00:06.0 0 | grep -qi ffffffff"
check "first vGPU unharmed" bash -c "'$xensim' pci $d read 00:05.0 0 | grep -qi 11111234"
check "hot-remove unknown (exit 4)" test "$(rc_of "$ctl" hot-remove "$U2")" -eq 4

# --- stop ---
check "stop" test "$(rc_of "$ctl" stop --domain "$d")" -eq 0
check "stop: pidfile removed" test ! -e "$XVGPU_RUN_DIR/dm-$d.pid"
check "stop: socket removed" test ! -e "$XVGPU_RUN_DIR/dm-$d.sock"
check "stop: nothing running (exit 4)" test "$(rc_of "$ctl" stop --domain "$d")" -eq 4
check "definition survives the device model" test "$(rc_of "$ctl" list --defined)" -eq 0 -a -f "$XVGPU_CONFIG_DIR/$U1.json"
check "undefine" test "$(rc_of "$ctl" undefine "$U1")" -eq 0
check "undefine again (exit 3)" test "$(rc_of "$ctl" undefine "$U1")" -eq 3

# --- SIGTERM and domain death ---
d2=$("$xensim" create --ram 64)
"$ctl" start --domain "$d2" --vgpu "uuid=$U3,type=simgpu-16" >/dev/null
pid=$(cat "$XVGPU_RUN_DIR/dm-$d2.pid")
kill -TERM "$pid"
for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
check "SIGTERM: device model exits" bash -c "! kill -0 $pid 2>/dev/null"
check "SIGTERM: torn down in the log" grep -q "torn down" "$XVGPU_RUN_DIR/dm-$d2.log"
check "SIGTERM: pidfile removed" test ! -e "$XVGPU_RUN_DIR/dm-$d2.pid"
"$ctl" start --domain "$d2" --vgpu "uuid=$U3,type=simgpu-16" >/dev/null
pid=$(cat "$XVGPU_RUN_DIR/dm-$d2.pid")
"$xensim" destroy "$d2"
for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
check "domain death: device model exits by itself within 3 s" bash -c "! kill -0 $pid 2>/dev/null"
check "domain death: the vGPU's reservation is released" test "$(rc_of "$ctl" start --domain "$d" --vgpu "uuid=$U3,type=simgpu-16")" -eq 0
"$ctl" stop --domain "$d" >/dev/null 2>&1

echo "$fails failure(s)"
exit $((fails != 0))
