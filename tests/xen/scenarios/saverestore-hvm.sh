# xl save + xl restore of an HVM guest with a vGPU (issue 14, save and restore). One vCPU, qemu-xen with the
# device_model_override wrapper, whose QMP proxy adds xvgpu-dm's state to qemu-xen's save file and splits it again on
# restore. The guest's xt_engine module runs engine jobs, its bochs DRM driver draws the test pattern, which the guest
# keeps on screen with the driver unbound (task fbkeep); dom0 saves and restores the domain, then the module runs the
# engine copy test again.
# videoram = 16 with vga = "none": libxl counts the 16 MiB in the domain's memory limit and qemu-xen uses none of it,
# which leaves the restored domain room for the vGPU's 16 MiB VRAM (Xen restores those pages before any device model
# runs).
#   shr-vgpu-dm-started        the wrapper started xvgpu-dm for the domain before qemu-xen
#   shr-guest-runs             the guest prints the marker of this run's nonce
#   shr-kmod-engine-copy       before the save: engine copies with checksums right, MSIs = flagged descriptors
#   shr-screenshot-before      xvgpuctl screenshot equals the drawn pattern, pixel for pixel
#   shr-save                   xl save succeeded, the save file carries the vGPU state (xvgpu's trailer)
#   shr-restore                xl restore succeeded: a new xvgpu-dm restored the vGPU and adopted its VRAM
#   shr-screenshot-after       the restored vGPU's screenshot is byte for byte the one before the save (and the pattern)
#   shr-after-kmod-engine-copy the module's engine copy test after the restore: every job completed, MSIs exact
# checks: shr-vgpu-dm-started shr-guest-runs shr-kmod-engine-copy shr-screenshot-before shr-save shr-restore
# checks: shr-screenshot-after shr-after-kmod-engine-copy
# needs: dm ctl xl-scripts guest-tools dom0-tools
# timeout: 900
# shellcheck source=../dom0/lib.sh
. /etc/xentest/lib.sh
name=shr-hvm
type=simgpu-16
nonce=$(xt_new_nonce)
uuid=$(xt_new_nonce)
xt_pin_dom0
XT_KMOD=copy
# The save image goes to dom0's tmpfs (half of its 1 GiB): a small guest (128 MiB) keeps it well inside.
xt_write_wrapper_cfg $name "$nonce" "kmod,fbpattern,fbkeep,kmod" "$uuid" $type
log=$(xt_console_log "$name")
xt_create_with_wrapper shr $name
xl unpause $name
xt_check_guest_runs shr "$name" "$nonce" 480 || exit 1

# Engine jobs before the save.
xt_check_kmod shr "$domid" "$log"

# The frame, kept on screen without a driver.
xt_keep_frame shr "$domid" "$log" "$uuid" 180 120

# Save and restore while the guest waits with the frame on screen.
lines_before=$(wc -l <"$log")
t=$(xt_uptime)
if xl save $name /tmp/$name.save >/tmp/$name-save.log 2>&1; then
  xt_time shr-xl-save "$(xt_since "$t")"
  # The file ends in the vGPU trailer only if the proxy appended the state to qemu-xen's record, which libxl copies
  # into the image as it is: look for the magic anywhere in the image.
  if grep -q XVGPUQST /tmp/$name.save; then
    xt_pass shr-save "$(stat -c %s /tmp/$name.save) bytes, vGPU state inside"
  else
    xt_fail shr-save "the save image carries no vGPU state"
  fi
else
  cat /tmp/$name-save.log | xt_relay - "xl save"
  cat /run/xvgpu/qmp-proxy-"$domid".log 2>/dev/null | xt_relay - "qmp proxy"
  tail -n 20 /run/xvgpu/dm-"$domid".log 2>/dev/null | xt_relay - "xvgpu-dm log"
  xt_fail shr-save "xl save failed"
  exit 1
fi
cat /run/xvgpu/qmp-proxy-"$domid".log 2>/dev/null | xt_relay - "qmp proxy"
# The saved domain is gone; its device model follows by itself (its vGPU's reservation with it).
k=0
while [ -n "$old_dm" ] && ! xt_exited "$old_dm" && [ $k -lt 75 ]; do sleep 0.2; k=$((k + 1)); done
t=$(xt_uptime)
if ! xl restore /tmp/$name.save >/tmp/$name-restore.log 2>&1; then
  cat /tmp/$name-restore.log | xt_relay - "xl restore"
  for f in /var/log/xen/qemu-dm-$name.log /run/xvgpu/dm-*.log; do tail -n 30 "$f" 2>/dev/null | xt_relay - "$f"; done
  xt_fail shr-restore "xl restore failed"
  exit 1
fi
xt_time shr-xl-restore "$(xt_since "$t")"
domid=$(xl domid $name)
xt_check_restored shr "$uuid" "$domid"
xt_check_screenshot_after shr "$uuid"

# The guest goes on: the module's engine copy test again, on the restored vGPU (only the log after the restore).
xt_check_kmod_after shr "$domid" "$log" "$lines_before"
xl destroy $name 2>/dev/null
grep -v '^\[' "$log" | tail -n 60 | xt_relay - guest
