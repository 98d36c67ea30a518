# Performance, side by side in one guest: a register read (DISPI ID, BAR2 + 0x500, 16 bits) on the vGPU and on the
# bochs-display that qemu-xen emulates in the same guest (both a full guest -> Xen -> dom0 -> guest round trip); then
# filling a fixed number of 4 KiB pages of each one's VRAM BAR with 32-bit stores. The vGPU's VRAM is guest memory
# mapped directly (no ioreq); qemu-xen's bochs-display VRAM BAR is trapped (one ioreq per store), so the reference
# fills fewer pages (XT_PERF_REF_PAGES) and dom0 compares the time per page. Figures only, no thresholds.
# The reads alternate between the two devices in rounds, so that a slow phase of the host (or of the guest's own
# start) weighs on both alike.
n=${XT_PERF_READS:-500}
rounds=${XT_PERF_ROUNDS:-5}
vpages=${XT_PERF_VGPU_PAGES:-64}
rpages=${XT_PERF_REF_PAGES:-2}
per=$((n / rounds))
[ "$per" -gt 0 ] || per=1
vt=0
rt=0
vbad=""
rbad=""
i=0
while [ $i -lt "$rounds" ]; do
  if [ -n "$XT_VGPU" ]; then
    t=$(xt-mmio bench "$XT_VGPU" 2 0x500 2 "$per" | sed -n 's/.*total_ns=\([0-9]*\).*/\1/p')
    [ -n "$t" ] && vt=$((vt + t)) || vbad=1
  fi
  if [ -n "$XT_REFDEV" ]; then
    t=$(xt-mmio bench "$XT_REFDEV" 2 0x500 2 "$per" | sed -n 's/.*total_ns=\([0-9]*\).*/\1/p')
    [ -n "$t" ] && rt=$((rt + t)) || rbad=1
  fi
  i=$((i + 1))
done
reads=$((per * rounds))
# A round that failed leaves the line out: dom0 then reports the figure missing.
[ -n "$XT_VGPU" ] && [ -z "$vbad" ] &&
  echo "GUEST-PERF vgpu-mmio-read reads=$reads rounds=$rounds total_ns=$vt ns_per_read=$((vt / reads))"
[ -n "$XT_REFDEV" ] && [ -z "$rbad" ] &&
  echo "GUEST-PERF ref-mmio-read reads=$reads rounds=$rounds total_ns=$rt ns_per_read=$((rt / reads))"
[ -n "$XT_VGPU" ] &&
  echo "GUEST-PERF vgpu-vram-fill pages=$vpages $(xt-mmio fill "$XT_VGPU" 0 $((vpages * 4096)) 0x5a5a0000)"
[ -n "$XT_REFDEV" ] &&
  echo "GUEST-PERF ref-vram-fill pages=$rpages $(xt-mmio fill "$XT_REFDEV" 0 $((rpages * 4096)) 0x5a5a0000)"
exit 0
