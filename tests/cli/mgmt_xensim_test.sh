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
# shellcheck source=xensim_env.sh
source "$(dirname "$0")/xensim_env.sh" xvgpu-mgmt
U1=6f1c5b2e-1d3a-4c5b-9e7f-0a1b2c3d4e5f
U2=7f1c5b2e-1d3a-4c5b-9e7f-0a1b2c3d4e5f
U3=8f1c5b2e-1d3a-4c5b-9e7f-0a1b2c3d4e5f

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

# --- a running vGPU's definition: its type stays, knob changes persist when asked ---
"$ctl" define --uuid "$U2" --type simgpu-64 --domain "$d" --knob engine_weight=200 >/dev/null 2>&1
"$ctl" start "$U2" >/dev/null 2>&1
def_of() { python3 -c "import json,sys; d=json.load(open('$XVGPU_CONFIG_DIR/$U2.json')); print($1)"; }
rc=$(rc_of "$ctl" define --uuid "$U2" --type simgpu-16 --domain "$d" --force)
check "redefine a running vGPU with another type: exit 1" test "$rc" -eq 1
check "... says why" err_has "runs in domain $d as simgpu-64: its type cannot change to simgpu-16"
check "... definition unchanged" test "$(def_of "d['type']")" = simgpu-64
check "... list shows the running type" bash -c "'$ctl' list | grep '$U2' | grep -q simgpu-64"
check "modify --type of a running vGPU: exit 1" test "$(rc_of "$ctl" modify "$U2" --type simgpu-16)" -eq 1
check "modify --bdf of a running vGPU: exit 1" test "$(rc_of "$ctl" modify "$U2" --bdf 00:09.0)" -eq 1
check "... says why" err_has "its slot cannot change to 00:09.0"
check "set --persist: exit 0" test "$(rc_of "$ctl" set --persist "$U2" engine_weight 77)" -eq 0
check "set --persist: the running value" test "$("$ctl" get "$U2" engine_weight)" = 77
check "set --persist: the definition" test "$(def_of "d['knobs']['engine_weight']")" = 77
check "set --persist: list shows it" bash -c "'$ctl' list -u '$U2' | grep -q engine_weight=77"
check "set without --persist: definition keeps its value" bash -c "'$ctl' set '$U2' engine_weight 60 && test \"\$(python3 -c \"import json; print(json.load(open('$XVGPU_CONFIG_DIR/$U2.json'))['knobs']['engine_weight'])\")\" = 77"
check "set --persist of an invalid value: exit 2" test "$(rc_of "$ctl" set --persist "$U2" engine_weight 0)" -eq 2
check "... nothing changed" test "$("$ctl" get "$U2" engine_weight)" = 60 -a "$(def_of "d['knobs']['engine_weight']")" = 77
check "modify --knob --live: exit 0" test "$(rc_of "$ctl" modify "$U2" --knob engine_weight=33 --live)" -eq 0
check "modify --live: running value and definition" test "$("$ctl" get "$U2" engine_weight)" = 33 -a "$(def_of "d['knobs']['engine_weight']")" = 33
check "modify --unset-knob" test "$(rc_of "$ctl" modify "$U2" --unset-knob engine_weight)" -eq 0 -a "$(def_of "'engine_weight' in d['knobs']")" = False
check "modify of an undefined vGPU: exit 3" test "$(rc_of "$ctl" modify 9f1c5b2e-1d3a-4c5b-9e7f-0a1b2c3d4e5f --knob engine_weight=5)" -eq 3
check "modify --bdf off bus 0: exit 2, nothing stored" test "$(rc_of "$ctl" modify "$U2" --bdf 02:05.0)" -eq 2 -a "$(def_of "d.get('bdf')")" = None
check "list --dumpjson -u: the stored definition" bash -c "'$ctl' list --dumpjson -u '$U2' > '$tmp/def.json' && python3 -c \"
import json; a=json.load(open('$tmp/def.json')); b=json.load(open('$XVGPU_CONFIG_DIR/$U2.json')); assert a==b, (a, b)\""
"$ctl" stop --domain "$d" >/dev/null 2>&1
"$ctl" undefine "$U2" >/dev/null
check "define --jsonfile: what --dumpjson printed comes back" bash -c "'$ctl' define --jsonfile '$tmp/def.json' >/dev/null 2>&1 && '$ctl' list --dumpjson -u '$U2' | python3 -c \"
import json,sys; assert json.load(sys.stdin)==json.load(open('$tmp/def.json'))\""
echo '{"type": "simgpu-64", "knobs": {"preferred_mode": "9999x9999"}}' >"$tmp/bad.json"
check "define --jsonfile of a bad definition: exit 2" test "$(rc_of "$ctl" define --jsonfile "$tmp/bad.json")" -eq 2
check "... names it" err_has "9999x9999"
check "define --jsonfile with --type: exit 2" test "$(rc_of "$ctl" define --jsonfile "$tmp/def.json" --type simgpu-16)" -eq 2

# --- errors from Xen in words ---
rc=$(rc_of "$dm" --domain 42 --vgpu "uuid=$U1,type=simgpu-16" --control-socket "$tmp/x.sock" --pidfile "$tmp/x.pid")
check "xvgpu-dm for a domain that does not exist: exit 1" test "$rc" -eq 1
check "... says so" err_has "domain 42 does not exist"
check "... not Xen's raw error" bash -c "! grep -q 'No such process' '$tmp/err'"
check "xvgpuctl start for a domain that does not exist: exit 4, says so" \
  bash -c "test \"\$('$ctl' start --domain 42 --vgpu uuid=$U1,type=simgpu-16 2>&1 >/dev/null)\" = 'xvgpuctl: domain 42 does not exist'"

# --- types counts the vGPUs that exist ---
avail_in_use() { "$ctl" --json types | python3 -c "
import json,sys; t={x['name']: x for g in json.load(sys.stdin)['gpus'] for x in g['types']}['simgpu-16']; print(t['available'], t['in_use'])"; }
read -r avail0 used0 <<<"$(avail_in_use)"
"$ctl" start --domain "$d" --vgpu "uuid=$U1,type=simgpu-16" >/dev/null
read -r avail1 used1 <<<"$(avail_in_use)"
check "types: a running simgpu-16 is in use" test "$used1" -eq $((used0 + 1))
check "types: one simgpu-16 less available" test "$avail1" -eq $((avail0 - 1))

# --- every exit status of the man pages, each produced ---
man_codes() {  # the numbers of a man page's EXIT STATUS table
  awk '/^\.SH EXIT STATUS/{on=1; next} /^\.SH/{on=0} on && /^\.B [0-9]+$/{print $2}' "$1" | sort -n | tr '\n' ' '
}
d2=$("$xensim" create --vcpus 1 --ram 64)
declare -A ctl_probe=(
  [0]="$ctl status"
  [1]="$ctl define --uuid $U2 --type simgpu-16"
  [2]="$ctl set $U1 engine_weight 0"
  [3]="$ctl set $U1 nosuch 1"
  [4]="$ctl get $U3"
  [5]="$ctl --dm /bin/false start --domain $d2 --vgpu uuid=$U3,type=simgpu-16"
)
check "xvgpuctl.1 lists exit statuses 0-5" test "$(man_codes "$src/docs/man/xvgpuctl.1")" = "0 1 2 3 4 5 "
for code in $(man_codes "$src/docs/man/xvgpuctl.1"); do
  probe=${ctl_probe[$code]:-}
  check "xvgpuctl exit $code has a probe" test -n "$probe"
  # shellcheck disable=SC2086
  [[ -n $probe ]] && check "xvgpuctl exit $code: ${probe#"$ctl "}" test "$(rc_of $probe)" -eq "$code"
done
declare -A dm_probe=(
  [0]="$dm --help"
  [1]="$dm --domain 42 --vgpu uuid=$U3,type=simgpu-16 --control-socket $tmp/y.sock --pidfile $tmp/y.pid"
  [2]="$dm --domain $d --vgpu uuid=$U3,type=simgpu-16,engine_weight=0"
)
check "xvgpu-dm.1 lists exit statuses 0-2" test "$(man_codes "$src/docs/man/xvgpu-dm.1")" = "0 1 2 "
for code in $(man_codes "$src/docs/man/xvgpu-dm.1"); do
  probe=${dm_probe[$code]:-}
  check "xvgpu-dm exit $code has a probe" test -n "$probe"
  # shellcheck disable=SC2086
  [[ -n $probe ]] && check "xvgpu-dm exit $code: ${probe#"$dm "}" test "$(rc_of $probe)" -eq "$code"
done
"$ctl" stop --domain "$d" >/dev/null

echo "$fails failure(s)"
exit $((fails != 0))
