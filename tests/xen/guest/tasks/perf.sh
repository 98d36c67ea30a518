# Performance, side by side in one guest: a register read (DISPI ID, BAR2 + 0x500, 16 bits) on the vGPU and on the
# bochs-display that qemu-xen emulates in the same guest (both a full guest -> Xen -> dom0 -> guest round trip); then
# filling a fixed number of 4 KiB pages of each one's VRAM BAR with 32-bit stores. The vGPU's VRAM is guest memory
# mapped directly (no ioreq); qemu-xen's bochs-display VRAM BAR is trapped (one ioreq per store), so the reference
# fills fewer pages (XT_PERF_REF_PAGES) and dom0 compares the time per page. Figures only, no thresholds.
n=${XT_PERF_READS:-500}
vpages=${XT_PERF_VGPU_PAGES:-64}
rpages=${XT_PERF_REF_PAGES:-2}
for dev in vgpu:$XT_VGPU ref:$XT_REFDEV; do
  [ -n "${dev#*:}" ] && echo "GUEST-PERF ${dev%%:*}-mmio-read $(xt-mmio bench "${dev#*:}" 2 0x500 2 "$n")"
done
[ -n "$XT_VGPU" ] &&
  echo "GUEST-PERF vgpu-vram-fill pages=$vpages $(xt-mmio fill "$XT_VGPU" 0 $((vpages * 4096)) 0x5a5a0000)"
[ -n "$XT_REFDEV" ] &&
  echo "GUEST-PERF ref-vram-fill pages=$rpages $(xt-mmio fill "$XT_REFDEV" 0 $((rpages * 4096)) 0x5a5a0000)"
exit 0
