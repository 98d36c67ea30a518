# Scenarios 3 and 4: the guest kernel module xt_engine (guest/kmod/xt_engine.c, built against Debian's headers for
# this kernel) binds the vGPU as a PCI driver with one MSI vector and runs, each when dom0 says go (dom0 reads
# xvgpu-dm's counters before and after): the engine copy test (guest memory <-> VRAM, checksums, MSIs counted), then
# with xentest.hammer=1 the two-vCPU hammer (kernel threads on CPU 0 and 1: registers and engine jobs at once). The module is
# removed afterwards so that the bochs DRM driver can bind the vGPU in the next task.
# shellcheck source=../lib.sh
. /xentest/lib.sh
ko=/xentest/bin/xt_engine.ko
dev=/sys/bus/pci/devices/$XT_VGPU
if [ ! -f "$ko" ]; then
  echo "GUEST-KMOD-ABSENT xt_engine.ko was not built (no kernel headers for the guest kernel at build time)"
  exit 0
fi
# Two vGPUs in one guest (issue 13, xentest.vgpu2=BDF): before any driver binds, each answers register reads with
# its own values (X_OFFSET stores what is written while the display is off; DISPI ID is a constant), then the module
# binds both and the second one runs its own engine copy test after the first.
dev2=""
if [ -n "${XT_VGPU2:-}" ]; then
  dev2=/sys/bus/pci/devices/$XT_VGPU2
  xt-mmio write "$XT_VGPU" 2 0x510 2 0x1111 && xt-mmio write "$XT_VGPU2" 2 0x510 2 0x2222
  echo "GUEST-TWO-VGPUS x_offset1=$(xt-mmio read "$XT_VGPU" 2 0x510 2) x_offset2=$(xt-mmio read "$XT_VGPU2" 2 0x510 2)" \
    "id1=$(xt-mmio read "$XT_VGPU" 2 0x500 2) id2=$(xt-mmio read "$XT_VGPU2" 2 0x500 2)" \
    "engine1=$(xt-mmio read "$XT_VGPU" 4 0 4) engine2=$(xt-mmio read "$XT_VGPU2" 4 0 4)" \
    "devices=$(lspci -n -d 1234:1111 | cut -d' ' -f1 | tr '\n' ',')"
  xt-mmio write "$XT_VGPU" 2 0x510 2 0 && xt-mmio write "$XT_VGPU2" 2 0x510 2 0
  [ -e "$dev2/driver" ] && echo "$XT_VGPU2" >"$dev2/driver/unbind"
  echo xt_engine >"$dev2/driver_override"
fi
# Nothing else may hold the vGPU.
xt_bind_engine
drv=$xt_engine_drv
echo "GUEST-KMOD-BOUND driver=${drv:-none} cpus=$(nproc)"
if [ "$drv" != xt_engine ]; then
  dmesg | grep -iE 'xt_engine|1234:1111|00:05' | tail -n 20
  rmmod xt_engine 2>/dev/null
  echo >"$dev/driver_override"
  exit 1
fi
echo "GUEST-KMOD-READY"
xt_wait_go kmod-copy 300 || exit 1
echo "${XT_KMOD_ROUNDS:-16}" >"$dev/xt_copy"
echo "GUEST-KMOD-COPY $(cat "$dev/xt_copy")"
if [ -n "$dev2" ]; then
  echo "${XT_KMOD_ROUNDS:-16}" >"$dev2/xt_copy"
  echo "GUEST-KMOD-COPY2 driver=$(basename "$(readlink "$dev2/driver" 2>/dev/null)" 2>/dev/null) $(cat "$dev2/xt_copy")"
fi
if [ "${XT_HAMMER:-0}" = 1 ]; then
xt_wait_go kmod-hammer 300 || exit 1
# The guest boots with maxcpus=1 (a second vCPU makes the whole boot and every later task slower under TCG); the
# second vCPU is brought online for the hammer only.
cpu1=/sys/devices/system/cpu/cpu1/online
t0=$(cut -d' ' -f1 /proc/uptime)
onlined=""
if [ -f $cpu1 ] && [ "$(cat $cpu1)" = 0 ]; then
  echo 1 >$cpu1 && onlined=1
fi
echo "GUEST-KMOD-CPUS online=$(cat /sys/devices/system/cpu/online) since=$t0 now=$(cut -d' ' -f1 /proc/uptime)"
# Progress every 10 s while it runs: a stall shows which thread stopped and where.
echo "${XT_HAMMER_OPS:-200} ${XT_HAMMER_JOBS:-8}" >"$dev/xt_hammer" &
writer=$!
i=0
while kill -0 $writer 2>/dev/null; do
  sleep 1
  i=$((i + 1))
  [ $((i % 10)) = 0 ] && echo "GUEST-KMOD-PROGRESS ${i}s $(cat "$dev/xt_progress")"
done
wait $writer
echo "GUEST-KMOD-HAMMER $(cat "$dev/xt_hammer")"
# Linux's own count of the vector, per CPU.
echo "GUEST-KMOD-PROC-INTERRUPTS $(grep xt_engine /proc/interrupts | tr -s ' ')"
# Back to one CPU for the tasks that follow.
[ -n "$onlined" ] && echo 0 >$cpu1
fi
# INVALIDATE (issue 13): the guest gives memory back to Xen through its balloon driver while an engine copy runs
# (its ring, fence and buffers held by the module); Xen then broadcasts INVALIDATE to every ioreq server.
if [ -n "${XT_BALLOON_MB:-}" ]; then
  xt_wait_go kmod-balloon 300 || exit 1
  xm=/sys/devices/system/xen_memory/xen_memory0
  before=$(cat $xm/info/current_kb 2>/dev/null)
  want=$((${before:-0} - XT_BALLOON_MB * 1024))
  echo "${XT_KMOD_ROUNDS:-16}" >"$dev/xt_copy" &
  copier=$!
  echo "$want" >$xm/target_kb
  wait $copier
  i=0
  while [ "$(cat $xm/info/current_kb)" -gt "$want" ] && [ $i -lt 100 ]; do sleep 0.2; i=$((i + 1)); done
  echo "GUEST-KMOD-BALLOON before_kb=$before target_kb=$want after_kb=$(cat $xm/info/current_kb) $(cat "$dev/xt_copy")"
fi
# INTx (issue 13): the module again, on the legacy interrupt line (MSI left off), the same copy test; the handler
# counts only calls that find a cause, and that count must equal the descriptors that asked for an interrupt.
if [ "${XT_INTX:-0}" = 1 ]; then
  rmmod xt_engine
  insmod "$ko" intx=1 2>&1
  i=0
  while [ ! -e "$dev/xt_copy" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
  echo "GUEST-KMOD-INTX-READY $(dmesg | grep -o 'INTx irq [0-9]*' | tail -n1)"
  xt_wait_go kmod-intx 300 || exit 1
  echo "${XT_KMOD_ROUNDS:-16}" >"$dev/xt_copy"
  echo "GUEST-KMOD-INTX $(cat "$dev/xt_copy") msi=$(setpci -s "${XT_VGPU#0000:}" CAP_MSI+2.w 2>/dev/null)"
  echo "GUEST-KMOD-INTX-PROC $(grep xt_engine /proc/interrupts | tr -s ' ')"
fi
xt_wait_go kmod-done 300
rmmod xt_engine
echo >"$dev/driver_override"
[ -n "$dev2" ] && echo >"$dev2/driver_override"
echo "GUEST-KMOD-END driver=$(basename "$(readlink "$dev/driver" 2>/dev/null)" 2>/dev/null)"
