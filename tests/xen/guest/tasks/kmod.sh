# Scenarios 3 and 4: the guest kernel module xt_engine (guest/kmod/xt_engine.c, built against Debian's headers for
# this kernel) binds the vGPU as a PCI driver with one MSI vector and runs, each when dom0 says go (dom0 reads
# xvgpu-dm's counters before and after): the engine copy test (guest memory <-> VRAM, checksums, MSIs counted), then
# with xentest.hammer=1 the two-vCPU hammer (kernel threads on CPU 0 and 1: registers and engine jobs at once). The module is
# removed afterwards so that the bochs DRM driver can bind the vGPU in the next task.
. /xentest/lib.sh
ko=/xentest/bin/xt_engine.ko
dev=/sys/bus/pci/devices/$XT_VGPU
if [ ! -f "$ko" ]; then
  echo "GUEST-KMOD-ABSENT xt_engine.ko was not built (no kernel headers for the guest kernel at build time)"
  exit 0
fi
# Nothing else may hold the vGPU: let go of any driver, and make ours the only one that binds it.
[ -e "$dev/driver" ] && echo "$XT_VGPU" >"$dev/driver/unbind"
echo xt_engine >"$dev/driver_override"
insmod "$ko" 2>&1
i=0
while [ ! -e "$dev/driver" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
drv=$(basename "$(readlink "$dev/driver" 2>/dev/null)" 2>/dev/null)
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
xt_wait_go kmod-done 300
rmmod xt_engine
echo >"$dev/driver_override"
echo "GUEST-KMOD-END driver=$(basename "$(readlink "$dev/driver" 2>/dev/null)" 2>/dev/null)"
