# Save and restore of a PVH guest with a vGPU (issue 14): libxl starts no device model for PVH, so the launcher does it
# (xvgpu-xl-create --save DOMAIN FILE: xl save -p, xvgpuctl save-state, the state appended to xl's image, xl destroy;
# --restore FILE CFG: xl restore -p, xvgpu-dm --restore-state, xl unpause, a supervisor for the new domain). One vCPU;
# the guest's xt_engine module runs engine jobs, its bochs DRM driver draws the test pattern, kept on screen with the
# driver unbound (task fbkeep: the suspend's thaw would make bochs-drm set the mode again and clear it); dom0 saves and
# restores the domain, then the module runs the engine copy test again. videoram = 16 (the vGPU's VRAM) keeps 16 MiB
# of the domain's memory limit free for the VRAM pages Xen restores. Before the good restore, two refused ones:
#   spr-vgpu-dm-started        the launcher started xvgpu-dm for the domain
#   spr-guest-runs             the guest prints the marker of this run's nonce
#   spr-kmod-engine-copy       before the save: engine copies with checksums right, MSIs = flagged descriptors
#   spr-screenshot-before      xvgpuctl screenshot equals the drawn pattern, pixel for pixel
#   spr-save                   the save file ends in the vGPU trailer; the domain, its xvgpu-dm and supervisor are gone
#   spr-refuse-missing         xl's image without the vGPU state: refused (exit 2, the reason), no domain restored
#   spr-refuse-corrupt         one byte of the vGPU state flipped: refused (the reason), the restored domain destroyed
#   spr-restore                a new xvgpu-dm restored the vGPU and adopted its VRAM
#   spr-screenshot-after       the restored vGPU's screenshot is byte for byte the one before the save (and the pattern)
#   spr-after-kmod-engine-copy the module's engine copy test after the restore: every job completed, MSIs exact
#   spr-supervisor-follows     the restored domain has its reboot supervisor, which ends when the domain ends
# checks: spr-vgpu-dm-started spr-guest-runs spr-kmod-engine-copy spr-screenshot-before spr-save spr-refuse-missing
# checks: spr-refuse-corrupt spr-restore spr-screenshot-after spr-after-kmod-engine-copy spr-supervisor-follows
# needs: dm ctl xl-scripts guest-tools dom0-tools
# timeout: 900
# shellcheck source=../dom0/lib.sh
. /etc/xentest/lib.sh
name=shr-pvh
type=simgpu-16
nonce=$(xt_new_nonce)
uuid=$(xt_new_nonce)
XT_KMOD=copy
# The save image goes to dom0's tmpfs (half of its 1 GiB): a small guest keeps it well inside.
XT_GUEST_MEMORY=128
XT_ON_REBOOT=restart XT_GUEST_CMDLINE="pci=conf1,noacpi,noearly vt.global_cursor_default=0 iomem=relaxed xentest.vgpu=0000:00:05.0" \
  xt_write_cfg /tmp/$name.cfg $name pvh "$nonce" "kmod,fbpattern,fbkeep,kmod" "videoram = 16"
launch="--vgpu uuid=$uuid,type=$type,bdf=00:05.0 /tmp/$name.cfg"
log=$(xt_console_log "$name")
suplog=/run/xvgpu/supervisor-$name.log
t0=$(xt_uptime)
if ! bash $XT_XL_SCRIPTS/xvgpu-xl-create $launch >/tmp/$name-create.log 2>&1; then
  xt_relay /tmp/$name-create.log xvgpu-xl-create
  xt_dump $name
  xt_fail spr-vgpu-dm-started "xvgpu-xl-create failed"
  exit 1
fi
xt_time spr-create-with-vgpu "$(xt_since "$t0")"
domid=$(xl domid $name)
if [ -n "$(xt_dm_pid "$domid")" ]; then
  xt_pass spr-vgpu-dm-started "xvgpu-dm pid $(xt_dm_pid "$domid") serves domain $domid"
else
  xt_relay /tmp/$name-create.log xvgpu-xl-create
  xt_fail spr-vgpu-dm-started "no xvgpu-dm for domain $domid"
  exit 1
fi
xt_check_guest_runs spr "$name" "$nonce" 480 || exit 1

# Engine jobs before the save.
xt_check_kmod spr "$domid" "$log"

# The frame, kept on screen without a driver.
xt_keep_frame spr "$domid" "$log" "$uuid" 180 120

# Save while the guest waits with the frame on screen.
lines_before=$(wc -l <"$log")
old=$domid
old_dm=$(xt_dm_pid "$old")
save=/tmp/$name.save
t=$(xt_uptime)
if ! bash $XT_XL_SCRIPTS/xvgpu-xl-create --save $name $save >/tmp/$name-save.log 2>&1; then
  xt_relay /tmp/$name-save.log "xvgpu-xl-create --save"
  tail -n 20 /run/xvgpu/dm-"$old".log 2>/dev/null | xt_relay - "xvgpu-dm log"
  xt_fail spr-save "xvgpu-xl-create --save failed"
  exit 1
fi
xt_time spr-save "$(xt_since "$t")"
xt_relay /tmp/$name-save.log "xvgpu-xl-create --save"
k=0
while ! grep -q "domain $old ($name): gone; supervision ends" "$suplog" 2>/dev/null && [ $k -lt 50 ]; do
  sleep 0.2
  k=$((k + 1))
done
problems=""
[ "$(tail -c 8 $save)" = XVGPUQST ] || problems="$problems no-vgpu-trailer;"
xl domid $name >/dev/null 2>&1 && problems="$problems domain-left;"
[ -n "$old_dm" ] && ! xt_exited "$old_dm" && problems="$problems xvgpu-dm-$old_dm-left;"
grep -q "domain $old ($name): gone; supervision ends" "$suplog" 2>/dev/null || problems="$problems supervisor-did-not-end;"
if [ -z "$problems" ]; then
  xt_pass spr-save "$(stat -c %s $save) bytes, vGPU trailer at the end; domain $old, its xvgpu-dm and supervisor gone"
else
  xt_relay "$suplog" supervisor
  xt_fail spr-save "$problems"
  exit 1
fi

# Refused: xl's image without the vGPU state (its first MiB: the launcher stops at the missing trailer).
head -c 1048576 $save >/tmp/$name-notrailer.save
bash $XT_XL_SCRIPTS/xvgpu-xl-create --restore /tmp/$name-notrailer.save $launch >/tmp/$name-r1.log 2>&1
rc=$?
rm -f /tmp/$name-notrailer.save
xt_relay /tmp/$name-r1.log "xvgpu-xl-create --restore (no vGPU state)"
if [ $rc -eq 2 ] && grep -q 'carries no usable vGPU state' /tmp/$name-r1.log && ! xl domid $name >/dev/null 2>&1; then
  xt_pass spr-refuse-missing "exit $rc: $(grep -m1 'carries no usable' /tmp/$name-r1.log)"
else
  xt_fail spr-refuse-missing "exit $rc, domain: $(xl domid $name 2>&1)"
fi

# Refused: one byte inside the vGPU state flipped (its middle, well before its CRC and the trailer; the state holds
# no VRAM, which is in the guest's memory image, so it is a few KiB).
size=$(stat -c %s $save)
state_len=$(od -An -tu8 -j $((size - 16)) -N8 $save | tr -d ' \n')
off=$((size - 16 - state_len / 2))
orig=$(dd if=$save bs=1 skip=$off count=1 2>/dev/null | od -An -tu1 | tr -d ' \n')
printf "\\$(printf %03o $((orig ^ 255)))" | dd of=$save bs=1 seek=$off conv=notrunc 2>/dev/null
t=$(xt_uptime)
bash $XT_XL_SCRIPTS/xvgpu-xl-create --restore $save $launch >/tmp/$name-r2.log 2>&1
rc=$?
xt_time spr-refused-restore "$(xt_since "$t")"
printf "\\$(printf %03o "$orig")" | dd of=$save bs=1 seek=$off conv=notrunc 2>/dev/null
xt_relay /tmp/$name-r2.log "xvgpu-xl-create --restore (corrupt state)"
reason=$(cat /tmp/$name-r2.log /run/xvgpu/dm-*.log 2>/dev/null | grep -i -m1 'corrupt\|checksum')
if [ $rc -ne 0 ] && [ -n "$reason" ] && ! xl domid $name >/dev/null 2>&1; then
  xt_pass spr-refuse-corrupt "exit $rc, domain destroyed: $reason"
else
  xt_fail spr-refuse-corrupt "exit $rc, reason '${reason}', domain: $(xl domid $name 2>&1)"
fi
# The refused restore's device model must be gone before the real one reserves the vGPU.
dm_of_vgpu() {
  for p in /proc/[0-9]*; do
    tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -q "xvgpu-dm .*uuid=$uuid" && return 0
  done
  return 1
}
k=0
while dm_of_vgpu && [ $k -lt 50 ]; do sleep 0.2; k=$((k + 1)); done

# The restore.
t=$(xt_uptime)
if ! bash $XT_XL_SCRIPTS/xvgpu-xl-create --restore $save $launch >/tmp/$name-restore.log 2>&1; then
  xt_relay /tmp/$name-restore.log "xvgpu-xl-create --restore"
  for f in /run/xvgpu/dm-*.log; do tail -n 30 "$f" 2>/dev/null | xt_relay - "$f"; done
  xt_fail spr-restore "xvgpu-xl-create --restore failed"
  exit 1
fi
xt_time spr-restore "$(xt_since "$t")"
xt_relay /tmp/$name-restore.log "xvgpu-xl-create --restore"
rm -f $save
domid=$(xl domid $name)
# Its supervisor, while the guest certainly runs (it powers off after its last task).
sup=$(sed -n 's/.*supervisor pid \([0-9]*\) .*/\1/p' /tmp/$name-restore.log | head -n1)
sup_alive=no
[ -n "$sup" ] && ! xt_exited "$sup" && sup_alive=yes
xt_check_restored spr "$uuid" "$domid"
xt_check_screenshot_after spr "$uuid"

# The guest goes on: the module's engine copy test again, on the restored vGPU (only the log after the restore).
xt_check_kmod_after spr "$domid" "$log" "$lines_before"

# The restored domain's supervisor (running after the restore) ends with the domain.
xl destroy $name 2>/dev/null
k=0
while ! grep -q "domain $domid ($name): [a-z]*; supervision ends" "$suplog" 2>/dev/null && [ $k -lt 50 ]; do
  sleep 0.2
  k=$((k + 1))
done
# (The guest powers off after its last task, so its end may be a poweroff rather than the destroy.)
how=$(sed -n "s/.* domain $domid ($name): \([a-z]*\); supervision ends/\1/p" "$suplog" | head -n1)
if [ "$sup_alive" = yes ] && [ -n "$how" ]; then
  xt_pass spr-supervisor-follows "supervisor pid $sup watched domain $domid and ended with it ($how)"
else
  xt_relay "$suplog" supervisor
  xt_fail spr-supervisor-follows "supervisor pid '${sup}' alive after the restore: $sup_alive; its end for domain $domid: $(grep -c "domain $domid" "$suplog")"
fi
grep -v '^\[' "$log" | tail -n 60 | xt_relay - guest
