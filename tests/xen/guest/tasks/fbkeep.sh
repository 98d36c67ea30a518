# After fbpattern: keeps the drawn frame on the vGPU's screen with no driver bound, for dom0's save and restore of
# the domain. A cooperative Xen suspend freezes and thaws every driver, and bochs-drm's thaw sets the mode again,
# which clears VRAM (no NOCLEARMEM) and lets fbcon repaint: the guest itself would replace the frame. So the driver
# is unbound and the same mode set again by register writes (DISPI block, BAR2 + 0x500) with NOCLEARMEM, as
# fbpattern's mode change does; dom0 then compares the screen before the save and after the restore.
. /xentest/lib.sh
dev=/sys/bus/pci/devices/$XT_VGPU
mode=${XT_KEEP_MODE:-1024x768}
w=${mode%x*}
h=${mode#*x}
[ -e "$dev/driver" ] && echo "$XT_VGPU" >"$dev/driver/unbind"
echo xt-no-driver >"$dev/driver_override"
# The unbind disabled the device (memory decode off): the register writes must reach it.
echo 1 >"$dev/enable"
# bochs-drm's unbind blanked the screen through the VGA attribute index (port 0x3c0 at BAR2 + 0x400): unblank it,
# as the driver's own mode set does (a read of input status 1, port 0x3da, first makes the next 0x3c0 write an index).
xt-mmio read "$XT_VGPU" 2 0x41a 1 >/dev/null
xt-mmio write "$XT_VGPU" 2 0x400 1 0x20 || echo "GUEST-FB-KEEP-ERROR unblank"
for reg in 0x508=0 0x506=32 0x502=$w 0x504=$h 0x50c=$w 0x50e=$h 0x510=0 0x512=0 0x508=0xc1; do
  xt-mmio write "$XT_VGPU" 2 "${reg%=*}" 2 "${reg#*=}" || echo "GUEST-FB-KEEP-ERROR $reg"
done
echo "GUEST-FB-KEPT mode=${w}x${h} enable=$(cat "$dev/enable") xres=$(xt-mmio read "$XT_VGPU" 2 0x502 2) enabled=$(xt-mmio read "$XT_VGPU" 2 0x508 2) driver=$(basename "$(readlink "$dev/driver" 2>/dev/null)" 2>/dev/null)"
xt_wait_go kept 900
echo >"$dev/driver_override"
