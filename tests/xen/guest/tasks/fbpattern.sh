# Scenario 2: the guest's own bochs DRM driver binds to the vGPU and brings up a framebuffer; the pattern is drawn
# into it while dom0 counts the ioreqs, then dom0 takes the screenshot before the guest moves on.
# Tasks run in their own shell: the helpers init sourced are not defined here.
. /xentest/lib.sh
# qemu-xen's reference bochs-display (HVM) has the same IDs: bochs-drm must leave it alone, its trapped VRAM would
# take one ioreq per store of fbcon's first clear (minutes under TCG).
[ -n "$XT_REFDEV" ] && echo xt-no-driver >"/sys/bus/pci/devices/$XT_REFDEV/driver_override"
while read -r ko; do
  insmod "$ko" 2>/dev/null
done </etc/xentest/bochs-modules
dev=/sys/bus/pci/devices/$XT_VGPU
i=0
while [ ! -e "$dev/driver" ] && [ $i -lt 50 ]; do sleep 0.2; i=$((i + 1)); done
echo "GUEST-BOCHS driver=$(basename "$(readlink "$dev/driver")" 2>/dev/null)"
fb=""
i=0
while [ -z "$fb" ] && [ $i -lt 50 ]; do
  for f in /sys/class/graphics/fb*; do
    [ "$(readlink -f "$f/device")" = "$(readlink -f "$dev")" ] && fb=/dev/${f##*/}
  done
  [ -n "$fb" ] || sleep 0.2
  i=$((i + 1))
done
echo "GUEST-FB-READY fb=$fb"
[ -n "$fb" ] || exit 1
xt_wait_go draw || exit 1
echo "GUEST-FB $(xt-fbpattern "$fb")"
xt_wait_go screenshot
