# Performance, side by side: a register read (DISPI ID, BAR2 + 0x500, 16 bits) on the vGPU and on the bochs-display
# that qemu-xen emulates in the same guest; then filling 256 KiB of each one's VRAM BAR (direct guest memory on both).
n=${XT_PERF_READS:-500}
for dev in vgpu:$XT_VGPU ref:$XT_REFDEV; do
  [ -n "${dev#*:}" ] && echo "GUEST-PERF ${dev%%:*}-mmio-read $(xt-mmio bench "${dev#*:}" 2 0x500 2 "$n")"
done
for dev in vgpu:$XT_VGPU ref:$XT_REFDEV; do
  [ -n "${dev#*:}" ] && echo "GUEST-PERF ${dev%%:*}-vram-fill $(xt-mmio fill "${dev#*:}" 0 262144 0x5a5a0000)"
done
