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
# The console's mode change (dom0 sets xentest.vnc_mode=WxH): what Linux's bochs driver does for a new mode, as
# register writes to the DISPI block (BAR2 + 0x500); NOCLEARMEM keeps the drawn pattern in VRAM, now shown at the new
# width. dom0 captures the console again before the guest moves on.
if [ -n "$XT_VNC_MODE" ]; then
  w=${XT_VNC_MODE%x*}
  h=${XT_VNC_MODE#*x}
  # ENABLE 0, BPP 32, XRES, YRES, VIRT_WIDTH, VIRT_HEIGHT, X_OFFSET 0, Y_OFFSET 0, ENABLE = ENABLED|LFB|NOCLEARMEM.
  for reg in 0x508=0 0x506=32 0x502=$w 0x504=$h 0x50c=$w 0x50e=$h 0x510=0 0x512=0 0x508=0xc1; do
    xt-mmio write "$XT_VGPU" 2 "${reg%=*}" 2 "${reg#*=}" || echo "GUEST-FB-MODE2-ERROR $reg"
  done
  echo "GUEST-FB-MODE2 mode=${w}x${h} xres=$(xt-mmio read "$XT_VGPU" 2 0x502 2) yres=$(xt-mmio read "$XT_VGPU" 2 0x504 2)"
  xt_wait_go vnc2
fi
