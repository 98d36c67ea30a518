# Performance, side by side: a register read (DISPI ID, BAR2 + 0x500, 16 bits) on the vGPU and on the bochs-display
# that qemu-xen emulates in the same guest; then filling 4 MiB of each one's VRAM BAR (direct guest memory on both).
n=${XT_PERF_READS:-2000}
for dev in vgpu:$XT_VGPU ref:$XT_REFDEV; do
  label=${dev%%:*}
  bdf=${dev#*:}
  [ -n "$bdf" ] || continue
  echo "GUEST-PERF $label-mmio-read $(xt-mmio bench "$bdf" 2 0x500 2 "$n")"
  echo "GUEST-PERF $label-vram-fill $(xt-mmio fill "$bdf" 0 4194304 0x5a5a0000)"
done
