#!/bin/bash
# The xl device_model_override wrapper's argument handling, with stand-ins for qemu-xen and
# xvgpuctl that record their arguments (one per line).
# Usage: xl_wrapper_test.sh WRAPPER
set -uo pipefail
wrapper=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0

cat > "$tmp/qemu" <<'EOS'
#!/bin/bash
printf '%s\n' "$@" > "$STANDIN_DIR/qemu.args"
EOS
cat > "$tmp/xvgpuctl" <<'EOS'
#!/bin/bash
printf '%s\n' "$@" > "$STANDIN_DIR/ctl.args"
# A device model that listens for console input, as xvgpu-dm --input-qmp does.
for a in "$@"; do
  case "$a" in
    --dm-arg=--input-qmp=*) [ -n "${STANDIN_LISTEN:-}" ] && python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "${a#--dm-arg=--input-qmp=}" ;;
  esac
done
exit "${STANDIN_CTL_RC:-0}"
EOS
chmod +x "$tmp/qemu" "$tmp/xvgpuctl"
export STANDIN_DIR=$tmp XVGPU_QEMU=$tmp/qemu XVGPUCTL=$tmp/xvgpuctl XVGPU_RUN_DIR=$tmp/run
mkdir -p "$tmp/run"

U1=6f1c5b2e-1d3a-4c5b-9e7f-0a1b2c3d4e5f
U2=7f1c5b2e-1d3a-4c5b-9e7f-0a1b2c3d4e5f

check() {  # check NAME CONDITION-COMMAND...
  local name=$1
  shift
  if "$@"; then echo "ok   $name"; else echo "FAIL $name"; fails=$((fails + 1)); fi
}
run() { rm -f "$tmp/qemu.args" "$tmp/ctl.args" "$tmp"/run/*; "$wrapper" "$@" 2> "$tmp/stderr"; }
has() { grep -qxF -- "$2" "$tmp/$1"; }
hasnt() { ! grep -qF -- "$2" "$tmp/$1" 2>/dev/null; }

# Typical libxl command line with two vGPUs in device_model_args.
run -xen-domid 7 -chardev socket,id=libxl-cmd,path=/run/xen/qmp-libxl-7,server=on,wait=off \
    -mon chardev=libxl-cmd,mode=control -nodefaults -name guest -vnc none -display none \
    -device rtl8139,id=nic0,netdev=net0,mac=00:16:3e:00:00:01 -netdev type=tap,id=net0,ifname=vif7.0-emu \
    -machine xenfv -m 1024 \
    -xvgpu "uuid=$U1,type=simgpu-64" -xvgpu "uuid=$U2,type=simgpu-16,bdf=00:06.0,weight=3"
rc=$?
check "exit 0 (exec of qemu)" test $rc -eq 0
check "qemu ran" test -f "$tmp/qemu.args"
check "-xvgpu removed from qemu's arguments" hasnt qemu.args -xvgpu
check "specs removed from qemu's arguments" hasnt qemu.args "$U1"
check "qemu keeps -xen-domid" has qemu.args -xen-domid
check "qemu keeps its own devices" has qemu.args "rtl8139,id=nic0,netdev=net0,mac=00:16:3e:00:00:01"
check "qemu arguments in order" test "$(head -n2 "$tmp/qemu.args" | tr '\n' ' ')" = "-xen-domid 7 "
check "qemu got every other argument" test "$(wc -l < "$tmp/qemu.args")" -eq 21
check "xvgpuctl start for domain 7" has ctl.args 7
check "xvgpuctl start subcommand" has ctl.args start
check "first vGPU gets the top free slot 1f" has ctl.args "uuid=$U1,type=simgpu-64,bdf=00:1f.0"
check "explicit bdf kept" has ctl.args "uuid=$U2,type=simgpu-16,bdf=00:06.0,weight=3"
check "xenstore node beside qemu's" has ctl.args "--dm-arg=--xenstore-node=/local/domain/0/device-model/7/xvgpu"
check "console input: xvgpu-dm listens for qemu's QMP" has ctl.args "--dm-arg=--input-qmp=$tmp/run/input-qmp-7.sock"
check "console input: no device model listening, no monitor for qemu" hasnt qemu.args xvgpu-input

# Console input: qemu-xen's own QMP monitor connects to the device model's socket.
STANDIN_LISTEN=1 run -xen-domid 8 -m 512 -xvgpu "uuid=$U1,type=simgpu-64"
check "console input: qemu gets a QMP monitor connecting to xvgpu-dm" \
  has qemu.args "socket,id=xvgpu-input,path=$tmp/run/input-qmp-8.sock,reconnect=1"
check "console input: in control mode" has qemu.args "chardev=xvgpu-input,mode=control"
STANDIN_LISTEN=1 run -xen-domid 8 -m 512 -xvgpu "uuid=$U1,type=simgpu-64" -xvgpu-console-input off
check "-xvgpu-console-input off: no --input-qmp" hasnt ctl.args --input-qmp
check "-xvgpu-console-input off: no monitor for qemu" hasnt qemu.args xvgpu-input
check "-xvgpu-console-input off: removed from qemu's arguments" hasnt qemu.args -xvgpu-console-input
run -xen-domid 8 -xvgpu "uuid=$U1,type=simgpu-64" -xvgpu-console-input maybe
check "-xvgpu-console-input maybe: refused" grep -q "expected on or off" "$tmp/stderr"

# No -xvgpu at all: the VM's autostart definitions (xvgpuctl decides; none is no failure), then qemu.
run -xen-domid 3 -m 512
check "no vGPU: qemu runs" has qemu.args -m
check "no vGPU: xvgpuctl asked for the VM's autostart vGPUs" has ctl.args --autostart
check "no vGPU: for domain 3" has ctl.args 3
run -xen-domid 6 -xvgpu "uuid=$U1,type=simgpu-64" -xvgpu-hot-add-room 256M -m 512
check "-xvgpu-hot-add-room passed as --hot-add-room" has ctl.args 256M
check "-xvgpu-hot-add-room removed from qemu's arguments" hasnt qemu.args 256M
check "explicit vGPUs: --autostart too" has ctl.args --autostart

# Slots named by explicit addr= are avoided, q35 keeps 1a-1f for ICH9.
run -xen-domid 4 -device "virtio-net-pci,addr=0x1f" -device "e1000,addr=1e.0" -xvgpu "uuid=$U1,type=simgpu-64"
check "explicit addr slots skipped" has ctl.args "uuid=$U1,type=simgpu-64,bdf=00:1d.0"
run -xen-domid 4 -machine q35 -xvgpu "uuid=$U1,type=simgpu-64"
check "q35: below the ICH9 slots" has ctl.args "uuid=$U1,type=simgpu-64,bdf=00:19.0"

# A vGPU defined with xvgpuctl define is named by its uuid alone.
run -xen-domid 5 -xvgpu "uuid=$U1"
check "defined vGPU passed by uuid" has ctl.args "$U1"

# Errors: nothing started, qemu not run, exit status non-zero, a message naming the problem.
run -xvgpu "uuid=$U1,type=simgpu-64"
check "missing -xen-domid refused" test $? -eq 2
check "missing -xen-domid: qemu not run" test ! -f "$tmp/qemu.args"
check "missing -xen-domid: message" grep -q "xen-domid" "$tmp/stderr"
run -xen-domid 8 -xvgpu
check "-xvgpu without value refused" test $? -eq 2
run -xen-domid 8 -xvgpu "type=simgpu-64"
check "spec without uuid refused" test $? -eq 2
check "spec without uuid: xvgpuctl not run" test ! -f "$tmp/ctl.args"
run -xen-domid 8 -device "e1000,addr=0x06" -xvgpu "uuid=$U1,type=simgpu-64,bdf=00:06.0"
check "bdf on a QEMU slot refused" test $? -eq 2
check "bdf on a QEMU slot: message" grep -q "taken by a QEMU device" "$tmp/stderr"
run -xen-domid 8 -xvgpu "uuid=$U1,type=simgpu-64,bdf=01:06.0"
check "bdf off bus 0 refused" test $? -eq 2
STANDIN_CTL_RC=5 run -xen-domid 9 -xvgpu "uuid=$U1,type=simgpu-64"
check "device model failure: non-zero exit" test $? -ne 0
check "device model failure: qemu not run" test ! -f "$tmp/qemu.args"

echo "$fails failure(s)"
exit $((fails != 0))
