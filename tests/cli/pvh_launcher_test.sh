#!/bin/bash
# The PVH/dom0 launcher: create paused, start xvgpu-dm, unpause; undo everything when a step
# fails. Stand-ins for xl and xvgpuctl log every call to one journal.
# Usage: pvh_launcher_test.sh LAUNCHER
set -uo pipefail
launcher=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0

cat > "$tmp/xl" <<'EOS'
#!/bin/bash
echo "xl $*" >> "$STANDIN_DIR/journal"
case "$1" in
  create) exit "${XL_CREATE_RC:-0}" ;;
  domid) echo 12 ;;
  domname) echo vgpu-guest ;;
  save) [[ "${XL_SAVE_RC:-0}" != 0 ]] || printf 'xl image' > "$4"; exit "${XL_SAVE_RC:-0}" ;;
  restore) exit "${XL_RESTORE_RC:-0}" ;;
  unpause) exit "${XL_UNPAUSE_RC:-0}" ;;
esac
exit 0
EOS
cat > "$tmp/xvgpuctl" <<'EOS'
#!/bin/bash
echo "xvgpuctl $*" >> "$STANDIN_DIR/journal"
case " $* " in *" start "*) [[ -z "${CTL_START_OUT:-}" ]] || echo "$CTL_START_OUT"; exit "${CTL_START_RC:-0}" ;; esac
case " $* " in *" status "*) exit "${CTL_STATUS_RC:-0}" ;; esac
case " $* " in *" save-state "*) [[ "${CTL_SAVE_RC:-0}" != 0 ]] || printf 'vgpu state' > "${*: -1}"; exit "${CTL_SAVE_RC:-0}" ;; esac
case " $* " in *" split-state "*) [[ "${CTL_SPLIT_RC:-0}" != 0 ]] || printf 'vgpu state' > "${*: -1}"; exit "${CTL_SPLIT_RC:-0}" ;; esac
# wait-end: the ends listed in $STANDIN_DIR/ends, one per call, then "gone".
case " $* " in
  *" wait-end "*)
    n=$(cat "$STANDIN_DIR/ends-used" 2>/dev/null || echo 0)
    echo $((n + 1)) > "$STANDIN_DIR/ends-used"
    end=$(sed -n "$((n + 1))p" "$STANDIN_DIR/ends" 2>/dev/null)
    echo "${end:-gone}"
    ;;
esac
exit 0
EOS
chmod +x "$tmp/xl" "$tmp/xvgpuctl"
export STANDIN_DIR=$tmp XL=$tmp/xl XVGPUCTL=$tmp/xvgpuctl XVGPU_RUN_DIR=$tmp/run
U1=6f1c5b2e-1d3a-4c5b-9e7f-0a1b2c3d4e5f
cat > "$tmp/guest.cfg" <<EOF2
type = "pvh"
name = "vgpu-guest"
kernel = "/boot/vmlinuz"
on_reboot = "destroy"
#xvgpu: uuid=$U1,type=simgpu-64
EOF2

check() {
  local name=$1
  shift
  if "$@"; then echo "ok   $name"; else echo "FAIL $name"; fails=$((fails + 1)); fi
}
run() { rm -f "$tmp/journal"; "$launcher" "$@" > "$tmp/stdout" 2> "$tmp/stderr"; }
line() { sed -n "${1}p" "$tmp/journal"; }

run "$tmp/guest.cfg" memory=512
check "success: exit 0" test $? -eq 0
check "1. create paused" test "$(line 1)" = "xl create -p $tmp/guest.cfg memory=512"
check "2. domid by name" test "$(line 2)" = "xl domid vgpu-guest"
check "3. device model started with the cfg's vGPU" \
  test "$(line 3)" = "xvgpuctl --timeout 10 start --autostart --domain 12 --vgpu uuid=$U1,type=simgpu-64 --dm-arg=--emulate-pci-cf8"
check "4. unpause" test "$(line 4)" = "xl unpause 12"
check "nothing else" test "$(wc -l < "$tmp/journal")" -eq 4
check "prints the domid" test "$(cat "$tmp/stdout")" = "12"

run --vgpu "uuid=$U1,type=simgpu-16" --name other "$tmp/guest.cfg"
check "--vgpu and --name" grep -qxF "xl domid other" "$tmp/journal"
check "--vgpu added" grep -qF -- "--vgpu uuid=$U1,type=simgpu-16" "$tmp/journal"

sed 's/^type = "pvh"/type = "hvm"/' "$tmp/guest.cfg" > "$tmp/hvm.cfg"
run "$tmp/hvm.cfg"
check "HVM: QEMU keeps port 0xcf8" test "$(line 3)" = "xvgpuctl --timeout 10 start --autostart --domain 12 --vgpu uuid=$U1,type=simgpu-64"
run "$tmp/guest.cfg" type=hvm
check "HVM by argument: QEMU keeps port 0xcf8" test "$(line 3)" = "xvgpuctl --timeout 10 start --autostart --domain 12 --vgpu uuid=$U1,type=simgpu-64"
run "$tmp/hvm.cfg" 'type="pvh"'
check "PVH by argument: port 0xcf8 emulated" grep -qF -- "--dm-arg=--emulate-pci-cf8" "$tmp/journal"

CTL_START_RC=5 run "$tmp/guest.cfg"
check "device model failure: non-zero exit" test $? -ne 0
check "device model failure: domain destroyed" grep -qxF "xl destroy 12" "$tmp/journal"
check "device model failure: never unpaused" test -z "$(grep unpause "$tmp/journal")"

XL_UNPAUSE_RC=1 run "$tmp/guest.cfg"
check "unpause failure: non-zero exit" test $? -ne 0
check "unpause failure: device model stopped" grep -qxF "xvgpuctl stop --domain 12" "$tmp/journal"
check "unpause failure: domain destroyed" grep -qxF "xl destroy 12" "$tmp/journal"

XL_CREATE_RC=1 run "$tmp/guest.cfg"
check "create failure: non-zero exit" test $? -ne 0
check "create failure: nothing to undo" test "$(wc -l < "$tmp/journal")" -eq 1

printf 'name = "x"\n#xvgpu-hot-add-room: 128M\n' > "$tmp/novgpu.cfg"
run "$tmp/novgpu.cfg"
check "no vGPU and no autostart one: usage error" test $? -eq 2
check "no vGPU: the VM's autostart vGPUs asked for" grep -qF -- "start --autostart --domain 12" "$tmp/journal"
check "no vGPU: hot-add room from the cfg" grep -qF -- "--hot-add-room 128M" "$tmp/journal"
check "no vGPU and no autostart one: domain destroyed" grep -qxF "xl destroy 12" "$tmp/journal"
check "no vGPU and no autostart one: message" grep -qF "no autostart vGPU" "$tmp/stderr"
CTL_START_OUT='{"domain": 12, "pid": 99, "vgpus": ["u"]}' run "$tmp/novgpu.cfg"
check "autostart vGPUs only: exit 0" test $? -eq 0
check "autostart vGPUs only: unpaused" grep -qxF "xl unpause 12" "$tmp/journal"
# Its supervisor (the cfg leaves xl's default reboot action) ends before the next runs share the journal.
for _ in $(seq 600); do grep -q "supervision ends" "$tmp/run/supervisor-x.log" 2>/dev/null && break; sleep 0.05; done
run --hot-add-room 64M "$tmp/guest.cfg"
check "--hot-add-room passed on" grep -qF -- "--hot-add-room 64M" "$tmp/journal"
run "$tmp/missing.cfg"
check "missing cfg: usage error" test $? -eq 2

# Reboot (on_reboot "restart", xl's default): xl gets "preserve", a supervisor re-creates the VM with its vGPU when the
# guest reboots and ends with any other end.
grep -v '^on_reboot' "$tmp/guest.cfg" > "$tmp/reboot.cfg"
printf 'reboot\npoweroff\n' > "$tmp/ends"
rm -f "$tmp/ends-used"
run "$tmp/reboot.cfg"
check "reboot: exit 0, prints the domid" test $? -eq 0 -a "$(cat "$tmp/stdout")" = 12
check "reboot: xl preserves a rebooted domain" test "$(line 1)" = "xl create -p $tmp/reboot.cfg on_reboot=\"preserve\""
for _ in $(seq 600); do grep -q "supervision ends" "$tmp/run/supervisor-vgpu-guest.log" 2>/dev/null && break; sleep 0.05; done
check "reboot: the supervisor watched, destroyed the old domain, re-created it, watched again" \
  test "$(sed -n '5,$p' "$tmp/journal" | tr '\n' '|')" = "xvgpuctl wait-end --domain 12|xl destroy 12|xl create -p $tmp/reboot.cfg on_reboot=\"preserve\"|xl domid vgpu-guest|xvgpuctl --timeout 10 start --autostart --domain 12 --vgpu uuid=$U1,type=simgpu-64 --dm-arg=--emulate-pci-cf8|xl unpause 12|xvgpuctl wait-end --domain 12|"
check "reboot: the supervisor's log says why it ended" grep -q "domain 12 (vgpu-guest): poweroff; supervision ends" \
  "$tmp/run/supervisor-vgpu-guest.log"
run "$tmp/reboot.cfg" on_reboot=destroy
check "on_reboot=destroy by argument: no supervisor" test "$(line 1)" = "xl create -p $tmp/reboot.cfg on_reboot=destroy"
sleep 0.3
check "on_reboot=destroy by argument: nothing else" test "$(wc -l < "$tmp/journal")" -eq 4
run --no-supervise "$tmp/reboot.cfg"
sleep 0.3
check "--no-supervise: xl's own reboot action, no supervisor" \
  test "$(line 1)" = "xl create -p $tmp/reboot.cfg" -a "$(wc -l < "$tmp/journal")" -eq 4

# Save: xl save -p (the domain stays, paused), the vGPU state appended behind xl's image, then the domain destroyed.
save=$tmp/guest.save
run --save vgpu-guest "$save"
check "save: exit 0" test $? -eq 0
check "save: xl save -p, then the vGPU state, then destroy" \
  test "$(tr '\n' '|' < "$tmp/journal")" = "xl domid vgpu-guest|xl domname 12|xvgpuctl status --domain 12|xl save -p 12 $save|xvgpuctl --timeout 60 save-state --domain 12 $tmp/run/save-12.state|xl destroy 12|"
check "save: [image][state][u64 length][XVGPUQST]" \
  test "$(od -An -c "$save" | tr -d ' \n')" = "xlimagevgpustate\\n\\0\\0\\0\\0\\0\\0\\0XVGPUQST"
check "save: no state file left" test ! -e "$tmp/run/save-12.state"
CTL_SAVE_RC=1 run --save 12 "$save"
check "save, state refused: non-zero exit" test $? -ne 0
check "save, state refused: the guest runs on, nothing destroyed" \
  test "$(grep -c destroy "$tmp/journal")" -eq 0 -a "$(grep -c 'xl unpause 12' "$tmp/journal")" -eq 1
check "save, state refused: no save file" test ! -e "$save"
XL_SAVE_RC=1 run --save 12 "$save"
check "save, xl save failed: non-zero exit, no state asked, nothing destroyed" \
  test $? -ne 0 -a "$(grep -c 'save-state\|destroy' "$tmp/journal")" -eq 0 -a ! -e "$save"
CTL_STATUS_RC=4 run --save 12 "$save"
check "save, no device model: usage error, xl save not run" test $? -eq 2 -a "$(grep -c 'xl save' "$tmp/journal")" -eq 0

# Restore: the state checked first, xl restore -p, xvgpu-dm from the state, unpause, supervised.
printf 'xl image {"c_info": {"type": "pvh", "name": "vgpu-guest"}} vgpu state' > "$save"
rm -f "$tmp/ends-used" "$tmp/run/supervisor-vgpu-guest.log"
printf '' > "$tmp/ends"
run --restore "$save" "$tmp/reboot.cfg"
check "restore: exit 0, prints the domid" test $? -eq 0 -a "$(cat "$tmp/stdout")" = 12
state=$tmp/run/restore-vgpu-guest.state
check "restore: state split, xl restore -p, xvgpu-dm restores, unpause" \
  test "$(sed -n '1,5p' "$tmp/journal" | tr '\n' '|')" = "xvgpuctl split-state $save /dev/null $state|xl restore -p $save|xl domid vgpu-guest|xvgpuctl --timeout 10 start --autostart --domain 12 --vgpu uuid=$U1,type=simgpu-64 --dm-arg=--emulate-pci-cf8 --dm-arg=--restore-state=$state|xl unpause 12|"
for _ in $(seq 600); do grep -q "supervision ends" "$tmp/run/supervisor-vgpu-guest.log" 2>/dev/null && break; sleep 0.05; done
check "restore: the supervisor watches the restored domain" grep -qxF "xvgpuctl wait-end --domain 12" "$tmp/journal"
check "restore: no state file left" test ! -e "$state"
CTL_SPLIT_RC=3 run --restore "$save" "$tmp/guest.cfg"
check "restore without vGPU state: usage error, nothing restored" \
  test $? -eq 2 -a "$(wc -l < "$tmp/journal")" -eq 1 && grep -q "carries no usable vGPU state" "$tmp/stderr"
CTL_START_RC=5 run --restore "$save" "$tmp/guest.cfg"
check "restore, state refused by xvgpu-dm: non-zero exit, domain destroyed, never unpaused" \
  test $? -ne 0 -a "$(grep -c 'xl destroy 12' "$tmp/journal")" -eq 1 -a "$(grep -c unpause "$tmp/journal")" -eq 0
check "restore, state refused: no state file left" test ! -e "$state"
printf 'xl image {"c_info": {"type": "pvh", "name": "another"}} vgpu state' > "$save"
run --restore "$save" "$tmp/guest.cfg"
check "restore of another VM's file: usage error, nothing restored" \
  test $? -eq 2 -a "$(grep -c 'xl restore' "$tmp/journal")" -eq 0
run --restore "$tmp/none.save" "$tmp/guest.cfg"
check "restore of a missing file: usage error" test $? -eq 2

echo "$fails failure(s)"
exit $((fails != 0))
