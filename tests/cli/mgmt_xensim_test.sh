#!/bin/bash
# xvgpuctl management on xensimd, no silent or misleading outcomes: a device model that does not
# answer, a stop that has to kill, a running vGPU's type, knob changes that persist, errors from
# Xen in words, the exit codes of the man page.
# Usage: mgmt_xensim_test.sh BUILD_DIR SOURCE_DIR
set -uo pipefail
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
dm=$build/src/dm/xvgpu-dm
ctl=$build/src/ctl/xvgpuctl
xensim=$build/src/xensim/xensim
tmp=$(mktemp -d /tmp/xvgpu-mgmt.XXXXXX)
export XENSIM_SOCKET=$tmp/xensim.sock XVGPU_RUN_DIR=$tmp/run XVGPU_CONFIG_DIR=$tmp/etc XVGPU_STATE_DIR=$tmp/state
export XVGPU_DM=$dm LD_LIBRARY_PATH=$build/xensim-lib
cleanup() {
  for p in "$XVGPU_RUN_DIR"/*.pid; do [[ -f "$p" ]] && kill -CONT "$(cat "$p")" 2>/dev/null && kill "$(cat "$p")" 2>/dev/null; done
  "$xensim" stop >/dev/null 2>&1
  rm -rf "$tmp"
}
trap cleanup EXIT
fails=0
check() {
  local name=$1
  shift
  if "$@"; then echo "ok   $name"; else echo "FAIL $name"; fails=$((fails + 1)); fi
}
rc_of() { "$@" >"$tmp/out" 2>"$tmp/err"; echo $?; }
err_has() { grep -qF -- "$1" "$tmp/err"; }
U1=6f1c5b2e-1d3a-4c5b-9e7f-0a1b2c3d4e5f
U2=7f1c5b2e-1d3a-4c5b-9e7f-0a1b2c3d4e5f

"$xensim" start >/dev/null || { echo "cannot start xensimd"; exit 1; }
mkdir -p "$XVGPU_RUN_DIR"
d=$("$xensim" create --vcpus 1 --ram 128)

# --- a hung device model: status says so, stop kills it, says so and cleans up ---
"$ctl" start --domain "$d" --vgpu "uuid=$U1,type=simgpu-16" >/dev/null
pid=$(cat "$XVGPU_RUN_DIR/dm-$d.pid")
kill -STOP "$pid"
rc=$(rc_of "$ctl" --timeout 1 status)
check "status of a hung device model: exit 4" test "$rc" -eq 4
check "status of a hung device model: listed as not responding" grep -q "not responding" "$tmp/out"
check "status of a hung device model: stderr names domain and pid" err_has "domain $d (pid $pid) is not responding"
rc=$(rc_of "$ctl" --json status --domain "$d")
check "status --json of a hung device model: state not responding" python3 -c "
import json; s=json.load(open('$tmp/out')); assert s[0]['state']=='not responding' and s[0]['pid']==$pid, s"
check "status --json of a hung device model: exit 4" test "$rc" -eq 4
rc=$(rc_of "$ctl" --timeout 0.5 stop --domain "$d")
check "stop that needs SIGKILL: exit 5" test "$rc" -eq 5
check "stop that needs SIGKILL: says so" err_has "did not shut down when asked; killed it (SIGKILL)"
check "stop that needs SIGKILL: names the ioreq server it destroyed" err_has "destroyed ioreq server"
gone() { ! kill -0 "$1" 2>/dev/null || [[ $(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) == Z ]]; }
check "stop that needs SIGKILL: process gone" gone "$pid"
check "stop that needs SIGKILL: no server record left" test -z "$(ls -A "$XVGPU_STATE_DIR/ioreq-servers" 2>/dev/null)"
check "stop that needs SIGKILL: no pidfile left" test ! -e "$XVGPU_RUN_DIR/dm-$d.pid"
check "stop that needs SIGKILL: no socket left" test ! -e "$XVGPU_RUN_DIR/dm-$d.sock"
check "status afterwards: nothing running, exit 0" test "$(rc_of "$ctl" status)" -eq 0
check "domain usable again: start" test "$(rc_of "$ctl" start --domain "$d" --vgpu "uuid=$U1,type=simgpu-16")" -eq 0
check "orderly stop: exit 0, nothing said" test "$(rc_of "$ctl" stop --domain "$d")" -eq 0 -a ! -s "$tmp/err"

echo "$fails failure(s)"
exit $((fails != 0))
