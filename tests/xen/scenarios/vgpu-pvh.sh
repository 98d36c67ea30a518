# vGPU on a PVH guest launched from the dom0 command line with xl-scripts/xvgpu-xl-create (xl create -p, xvgpu-dm,
# xl unpause). PVH has no emulated PCI host: xvgpu-dm must answer the 0xcf8 probe for Linux to find the vGPU; the
# guest uses pci=conf1,noacpi,noearly (xvgpu-xl-create passes --emulate-pci-cf8), vt.global_cursor_default=0 (the
# fbcon cursor would blink over the drawn pattern before the screenshot) and iomem=relaxed (once bochs-drm holds the
# BARs, the workload's sysfs mmap of them is refused with EINVAL otherwise). One guest boot, the same checks as
# vgpu-hvm without the qemu-xen reference, plus scenario 3 (the guest kernel module xt_engine: engine copies with MSI
# completions; scenario 4, two vCPUs hammering, is vgpu-hammer-pvh), plus issue 13's value-checking probes
# (pvh-probe-*) and INVALIDATE (pvh-invalidate: the guest balloons 32 MiB down during an engine copy). A PVH domain
# has no emulated RTC (libxl gives it emulation_flags XEN_X86_EMU_LAPIC only), so TIMEOFFSET is checked on HVM only:
# checks: pvh-vgpu-dm-started pvh-guest-runs pvh-vgpu-lspci pvh-vgpu-vram-direct pvh-bochs-binds
# checks: pvh-screenshot-matches pvh-draw-ioreqs-near-zero pvh-destroy-mid-workload pvh-hostile-guest
# checks: pvh-kmod-engine-copy pvh-dm-gone-within-1s
# checks: pvh-probe-config-ro pvh-probe-read-sizes pvh-probe-past-end pvh-probe-rep-stos-up pvh-probe-rep-stos-down pvh-probe-rep-movs
# checks: pvh-probe-rep-across pvh-probe-bar-sizing pvh-probe-decode-off pvh-probe-bar-move pvh-probe-engine-junk pvh-probe-alive
# checks: pvh-invalidate
# checks: pvh-vnc-capture-matches pvh-vnc-snapshot-matches pvh-vnc-capture-after-mode-change
# checks: pvh-novnc-shows-frame pvh-novnc-shows-frame-mode2
# needs: dm ctl xl-scripts guest-tools dom0-tools
# host-vnc-port: 5900
# timeout: 660
. /etc/xentest/lib.sh
name=vgpu-pvh
type=simgpu-64
nonce=$(xt_new_nonce)
uuid=$(xt_new_nonce)
before=$(xt_available $type)
XT_KMOD=copy
XT_BALLOON_MB=32
# The vGPU's console on dom0's lab-network address, captured by real VNC clients on the host (xt_check_vnc).
XT_VNC_PORT=5900
XT_VNC_MODE=800x600
XT_GUEST_CMDLINE="pci=conf1,noacpi,noearly vt.global_cursor_default=0 iomem=relaxed xentest.vgpu=0000:00:05.0 xentest.balloon_mb=$XT_BALLOON_MB xentest.vnc_mode=$XT_VNC_MODE" \
  xt_write_cfg /tmp/$name.cfg $name pvh "$nonce" "lspci,perf,hostile,kmod,fbpattern,workload"
t0=$(xt_uptime)
if ! bash $XT_XL_SCRIPTS/xvgpu-xl-create --vgpu "uuid=$uuid,type=$type,bdf=00:05.0,vnc=10.0.2.15:$XT_VNC_PORT" /tmp/$name.cfg \
  >/tmp/$name-create.log 2>&1; then
  xt_dump $name
  xt_fail pvh-vgpu-dm-started "xvgpu-xl-create failed"
  exit 1
fi
xt_time pvh-create-with-vgpu "$(xt_since "$t0")"
domid=$(xl domid $name)
dmpid=$(xt_dm_pid "$domid")
if [ -n "$dmpid" ]; then
  xt_pass pvh-vgpu-dm-started "xvgpu-dm pid $dmpid serves domain $domid"
  xvgpuctl status --domain "$domid" 2>&1 | sed 's/^/[xvgpuctl status] /'
else
  xt_dump $name
  xt_fail pvh-vgpu-dm-started "no xvgpu-dm for domain $domid"
  exit 1
fi
xt_vgpu_flow pvh $name "$domid" "$uuid" $type 64M "$before" "$nonce"
