# Performance, side by side: a register read (DISPI ID, BAR2 + 0x500, 16 bits) on the vGPU and on the bochs-display
# that qemu-xen emulates in the same guest; then filling each one's VRAM BAR: 256 KiB on the vGPU (direct guest
# memory), 4 KiB on qemu-xen's bochs-display (its VRAM BAR is trapped: one ioreq per store, tens of ms each under
# a loaded TCG host).
n=${XT_PERF_READS:-500}
for dev in vgpu:$XT_VGPU ref:$XT_REFDEV; do
  [ -n "${dev#*:}" ] && echo "GUEST-PERF ${dev%%:*}-mmio-read $(xt-mmio bench "${dev#*:}" 2 0x500 2 "$n")"
done
[ -n "$XT_VGPU" ] && echo "GUEST-PERF vgpu-vram-fill $(xt-mmio fill "$XT_VGPU" 0 262144 0x5a5a0000)"
[ -n "$XT_REFDEV" ] && echo "GUEST-PERF ref-vram-fill $(xt-mmio fill "$XT_REFDEV" 0 4096 0x5a5a0000)"
