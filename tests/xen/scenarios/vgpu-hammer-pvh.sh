# Issue 7 scenario 4 on a PVH guest with two vCPUs: the guest kernel module xt_engine runs its engine copy test, then
# two kernel threads bound to CPU 0 and CPU 1 hammer the vGPU's registers and engine at the same time (guest/tasks/
# kmod.sh with xentest.hammer=1, dom0/lib.sh xt_check_kmod). Launched like vgpu-pvh with xl-scripts/xvgpu-xl-create.
# Before the runner gave Xen sched_credit2_migrate_resist=0, the emulated machine went idle for good during the hammer
# in about half the runs (Xen's credit2 left dom0's vCPU in its runqueue with both CPUs idle): see
# docs/real-xen-testing.md, "The hammer hang". Each guest vCPU has its own physical CPU (vCPU 0 on CPU 0, vCPU 1 on
# CPU 1): the two hammer threads run truly in parallel, and Xen never moves a guest vCPU between the CPUs (once, with
# the vCPUs free to move, the guest's vCPU 1 triple-faulted under QEMU's emulation of SVM).
# checks: pvh2-vgpu-dm-started pvh2-guest-runs pvh2-kmod-engine-copy pvh2-two-vcpu-hammer pvh2-two-vgpus
# Issue 13: the guest has a second vGPU at 00:06.0 (one xvgpu-dm serves both): pvh2-two-vgpus checks that each
# answers its own register values and runs its own engine copy (dom0/lib.sh xt_check_two_vgpus).
# needs: dm ctl xl-scripts guest-tools
# timeout: 480
. /etc/xentest/lib.sh
name=vgpu-hammer-pvh
type=simgpu-64
nonce=$(xt_new_nonce)
uuid=$(xt_new_nonce)
uuid2=$(xt_new_nonce)
XT_GUEST_VCPUS=2 \
  XT_GUEST_CMDLINE="pci=conf1,noacpi,noearly xentest.hammer=1 xentest.vgpu=0000:00:05.0 xentest.vgpu2=0000:00:06.0" \
  xt_write_cfg /tmp/$name.cfg $name pvh "$nonce" "kmod" 'cpus = ["0", "1"]'
if ! bash $XT_XL_SCRIPTS/xvgpu-xl-create --vgpu "uuid=$uuid,type=$type,bdf=00:05.0" \
  --vgpu "uuid=$uuid2,type=$type,bdf=00:06.0" /tmp/$name.cfg \
  >/tmp/$name-create.log 2>&1; then
  xt_dump $name
  xt_fail pvh2-vgpu-dm-started "xvgpu-xl-create failed"
  exit 1
fi
domid=$(xl domid $name)
xt_check_dm_started pvh2 $name "$domid" || exit 1
xt_check_guest_runs pvh2 $name "$nonce" 300 || exit 1
log=$(xt_console_log "$name")
xt_check_two_vgpus pvh2 "$domid" "$log" "$uuid" "$uuid2" &
twopid=$!
XT_STATS_UUID=$uuid xt_check_kmod pvh2 "$domid" "$log" hammer
wait $twopid
xl destroy $name
