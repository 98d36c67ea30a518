# Scenario 5: a workload that runs until dom0 destroys the domain (register reads, VRAM fills).
echo "GUEST-WORKLOAD-RUNNING"
while :; do
  xt-mmio bench "$XT_VGPU" 2 0x500 2 200 >/dev/null
  xt-mmio fill "$XT_VGPU" 0 65536 0x1234 >/dev/null
done
