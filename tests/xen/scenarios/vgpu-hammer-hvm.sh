# Issue 7 scenarios 3 and 4 on an HVM guest with two vCPUs (qemu-xen beside xvgpu-dm, hvmloader placing the BARs,
# xvgpu-dm started by the xl.cfg device_model_override wrapper as in vgpu-hvm): the guest kernel module xt_engine
# runs its engine copy test, then two kernel threads bound to the guest's CPU 0 and CPU 1 hammer the vGPU's registers
# and engine at the same time (guest/tasks/kmod.sh with xentest.hammer=1, dom0/lib.sh xt_check_kmod). Guest vCPU 0
# shares physical CPU 0 with dom0 (xt_pin_dom0: its ioreqs need no wake-up across QEMU's TCG threads), vCPU 1 has
# physical CPU 1, so the two threads run in parallel and vCPU 1's requests cross CPUs.
# checks: hvm2-vgpu-dm-started hvm2-guest-runs hvm2-kmod-engine-copy hvm2-two-vcpu-hammer hvm2-two-vgpus
# Issue 13: the guest has a second vGPU at 00:06.0 (both given to the wrapper, one xvgpu-dm serves both; hvmloader
# places both): hvm2-two-vgpus checks that each answers its own register values and runs its own engine copy.
# Both vGPUs run without expansion ROM (rom=off): SeaBIOS's boot text through the VGA ROM takes about a minute of
# guest boot in the nested lab, and vgpu-hvm covers it.
# needs: dm ctl xl-scripts guest-tools
# timeout: 480
. /etc/xentest/lib.sh
name=vgpu-hammer-hvm
type=simgpu-64
nonce=$(xt_new_nonce)
uuid=$(xt_new_nonce)
uuid2=$(xt_new_nonce)
xt_pin_dom0
XT_GUEST_VCPUS=2 XT_GUEST_CPUS='0' \
  XT_GUEST_CMDLINE="xentest.hammer=1 xentest.vgpu=0000:00:05.0 xentest.vgpu2=0000:00:06.0" \
  xt_write_cfg /tmp/$name.cfg $name hvm "$nonce" "kmod" \
  "device_model_override = \"$XT_XL_SCRIPTS/xvgpu-qemu-wrapper\"" \
  "device_model_args = [ \"-xvgpu\", \"uuid=$uuid,type=$type,bdf=00:05.0,rom=off\", \"-xvgpu\", \"uuid=$uuid2,type=$type,bdf=00:06.0,rom=off\" ]"
# One physical CPU per guest vCPU (the list form of cpus= replaces the single value xt_write_cfg wrote).
sed -i 's/^cpus = .*/cpus = ["0", "1"]/' /tmp/$name.cfg
if ! xl create -p /tmp/$name.cfg >/tmp/$name-create.log 2>&1; then
  xt_dump $name
  xt_fail hvm2-vgpu-dm-started "xl create -p with the wrapper failed"
  exit 1
fi
domid=$(xl domid $name)
xt_check_dm_started hvm2 $name "$domid" || exit 1
xl unpause $name
xt_check_guest_runs hvm2 $name "$nonce" 300 || exit 1
log=$(xt_console_log "$name")
xt_check_two_vgpus hvm2 "$domid" "$log" "$uuid" "$uuid2" &
twopid=$!
XT_STATS_UUID=$uuid xt_check_kmod hvm2 "$domid" "$log" hammer
wait $twopid
xl destroy $name
