# Issue 14: a PVH guest keeps its vGPU through reboots. libxl starts no device model for PVH, so the launcher
# (xl-scripts/xvgpu-xl-create) gives xl on_reboot="preserve" and leaves a supervisor that, when the guest reboots,
# destroys the old domain and creates the VM again: paused, xvgpu-dm, unpause. The vGPU is a definition of the VM
# (xvgpuctl define --vm NAME --autostart), the xl.cfg has a fixed uuid= and on_reboot="restart", and the launcher
# gets no --vgpu: each boot finds the vGPU by the VM alone. One vCPU. Boot 1, then three reboots (the guest's
# reboot -f, xl reboot, the guest's again); after every boot and reboot the checks of vgpu-reboot-hvm, prefix pvhr:
# checks: pvhr-boot1-vgpu-dm-started pvhr-boot1-guest-runs pvhr-boot1-bochs-binds pvhr-boot1-screenshot-matches pvhr-boot1-draw-ioreqs-near-zero
# checks: pvhr-reboot1-same-vgpu pvhr-reboot1-old-dm-exits
# checks: pvhr-boot2-vgpu-dm-started pvhr-boot2-guest-runs pvhr-boot2-bochs-binds pvhr-boot2-screenshot-matches pvhr-boot2-draw-ioreqs-near-zero
# checks: pvhr-reboot2-same-vgpu pvhr-reboot2-old-dm-exits
# checks: pvhr-boot3-vgpu-dm-started pvhr-boot3-guest-runs pvhr-boot3-bochs-binds pvhr-boot3-screenshot-matches pvhr-boot3-draw-ioreqs-near-zero
# checks: pvhr-reboot3-same-vgpu pvhr-reboot3-old-dm-exits
# checks: pvhr-boot4-vgpu-dm-started pvhr-boot4-guest-runs pvhr-boot4-bochs-binds pvhr-boot4-screenshot-matches pvhr-boot4-draw-ioreqs-near-zero
# checks: pvhr-destroy-old-dm-exits pvhr-destroy-clean
# needs: dm ctl xl-scripts guest-tools dom0-tools
# timeout: 900
# shellcheck source=../dom0/lib.sh
. /etc/xentest/lib.sh
xt_rb_start pvhr reboot-pvh simgpu-64
xt_rb_define $type
XT_ON_REBOOT=restart XT_GUEST_CMDLINE="pci=conf1,noacpi,noearly vt.global_cursor_default=0 xentest.vgpu=0000:00:05.0" \
  xt_write_cfg /tmp/$name.cfg $name pvh "$nonce" "fbpattern,reboot" "uuid = \"$vm\""
off=0
[ -f "$clog" ] && off=$(wc -c <"$clog")
if ! bash $XT_XL_SCRIPTS/xvgpu-xl-create /tmp/$name.cfg >/tmp/$name-create.log 2>&1; then
  xt_relay /tmp/$name-create.log xvgpu-xl-create
  xt_dump $name
  xt_fail pvhr-boot1-vgpu-dm-started "xvgpu-xl-create failed"
  exit 1
fi
xt_relay /tmp/$name-create.log xvgpu-xl-create
domid=$(xl domid $name)
xt_rb_boots

xt_rb_destroy
# The supervisor ends with the domain.
i=0
while [ $i -lt 50 ] && ! grep -q "supervision ends" /run/xvgpu/supervisor-$name.log 2>/dev/null; do
  sleep 0.2
  i=$((i + 1))
done
xt_relay /run/xvgpu/supervisor-$name.log supervisor
problems=$(xt_rb_leftovers $type "$before")
grep -q "domain $domid ($name): gone; supervision ends" /run/xvgpu/supervisor-$name.log 2>/dev/null ||
  problems="$problems supervisor-did-not-end;"
if [ -z "$problems" ]; then
  xt_pass pvhr-destroy-clean "no device model, no reservation, supervisor ended, $type available: $before"
else
  xt_fail pvhr-destroy-clean "$problems"
fi
xvgpuctl undefine "$uuid" >/dev/null 2>&1
