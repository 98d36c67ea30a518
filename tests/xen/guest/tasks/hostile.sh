# Scenario 6: a misbehaving guest program against the vGPU (before any driver binds it).
echo "GUEST-HOSTILE-BEGIN"
xt-hostile "$XT_VGPU" 2>&1
echo "GUEST-HOSTILE-END rc=$?"
