# xl migrate of an HVM guest with a vGPU while the guest draws with the engine and runs engine jobs (issue 14, live
# migration). Both ends are this host (xl migrate's ssh command is a stand-in that runs the receiver here), so for a
# while the VM has two domains and two device models: the receiver's restores the vGPU from the state the sender's
# saved at the stop-and-copy, sharing the sender's reservation until the sender's domain is destroyed.
# The guest (one vCPU, 128 MiB, qemu-xen through the wrapper) draws the pattern (bochs DRM), keeps it on screen with
# the driver unbound (task fbkeep), then its engine driver loops (task migload): the engine draws a 64-row band of the
# frame with the next stamp, then an engine copy test, each step checked by the guest (fences, checksums, MSIs
# exactly); dom0 migrates the domain in the middle of it.
#   mig-vgpu-dm-started     the wrapper started xvgpu-dm for the domain before qemu-xen
#   mig-guest-runs          the guest prints the marker of this run's nonce
#   mig-screenshot-before   xvgpuctl screenshot equals the drawn pattern, pixel for pixel
#   mig-load-running        the guest's engine loop ran steps before the migration
#   mig-migrate             xl migrate succeeded while the loop ran; the old domain and its device model are gone
#   mig-restore             the receiver's xvgpu-dm restored the vGPU (sharing the reservation, then alone)
#   mig-engine-loop         after the migration the loop went on; every step's verdict ok (no job lost or run twice:
#                           fences, checksums, MSIs = flagged descriptors, engine job counts); the driver's PM
#                           restore ran once (Xen 4.17 routes the guest's MSIs over PIRQs, which Linux binds again
#                           only for a driver that asks: docs/admin-guide.md, "MSIs after a restore")
#   mig-screenshot-after    the screenshot is the frame the engine drew last: every band's last stamp, pixel exact
#   mig-vram-with-memory    the saved device state holds no VRAM (under 1 MiB against 16 MiB of VRAM): the VRAM went
#                           with the guest's memory, the engine's writes to it carried by Xen's dirty log, which
#                           the pixel-exact screenshot after proves
# checks: mig-vgpu-dm-started mig-guest-runs mig-screenshot-before mig-load-running mig-migrate mig-restore
# checks: mig-engine-loop mig-screenshot-after mig-vram-with-memory
# needs: dm ctl xl-scripts guest-tools dom0-tools
# timeout: 900
# shellcheck source=../dom0/lib.sh
. /etc/xentest/lib.sh
name=mig-hvm
type=simgpu-16
nonce=$(xt_new_nonce)
uuid=$(xt_new_nonce)
xt_pin_dom0
xt_write_wrapper_cfg $name "$nonce" "fbpattern,fbkeep,migload" "$uuid" $type
log=$(xt_console_log "$name")
xt_create_with_wrapper mig $name
xl unpause $name
xt_check_guest_runs mig "$name" "$nonce" 480 || exit 1

xt_keep_frame mig "$domid" "$log" "$uuid" 180 120 1024x768

# The engine loop.
xt_go "$domid" kept
xt_go "$domid" migload-start
if ! xt_wait_grep "$log" '^GUEST-MIGLOAD-(PROGRESS steps=|ERROR|ABSENT)' 300 || ! grep -q '^GUEST-MIGLOAD-PROGRESS' "$log"; then
  grep -E '^GUEST-MIGLOAD' "$log" | xt_relay - guest
  xt_fail mig-load-running "the guest's engine loop did not get going"
  exit 1
fi
xt_pass mig-load-running "$(grep -m1 '^GUEST-MIGLOAD-PROGRESS' "$log" | tr -d '\r')"

# The migration: xl's ssh command is a stand-in that runs the receiving xl here.
cat >/tmp/xt-ssh <<'SSH'
#!/bin/sh
# xl migrate runs "$SSH HOST xl migrate-receive ...": drop the host, run the rest here.
shift
exec sh -c "$*"
SSH
chmod +x /tmp/xt-ssh
lines_before=$(wc -l <"$log")
xt_migrate mig $name localhost
new_domid=$(xl domid $name 2>/dev/null)
if [ "$migrated" = 1 ] && [ -n "$new_domid" ] && [ "$new_domid" != "$domid" ] && xt_exited "$old_dm" &&
  ! xl list "$domid" >/dev/null 2>&1; then
  xt_pass mig-migrate "domain $domid -> $new_domid, old device model (pid $old_dm) gone"
else
  tail -n 30 /run/xvgpu/dm-"$domid".log 2>/dev/null | xt_relay - "old xvgpu-dm log"
  [ -n "$new_domid" ] && tail -n 30 /run/xvgpu/dm-"$new_domid".log 2>/dev/null | xt_relay - "new xvgpu-dm log"
  tail -n 30 /var/log/xen/qemu-dm-$name*.log 2>/dev/null | xt_relay - "qemu-dm log"
  xl list | xt_relay - "xl list"
  xt_fail mig-migrate "migrated=$migrated new domain '${new_domid}' old dm $(xt_exited "$old_dm" && echo gone || echo alive)"
  exit 1
fi
dmlog=/run/xvgpu/dm-$new_domid.log
grep -E "restor|shared|saved" /run/xvgpu/dm-"$domid".log "$dmlog" 2>/dev/null | xt_relay - "xvgpu-dm"
restored_ms=$(sed -n "s/.*vGPU $uuid restored from .* in \([0-9]*\) ms.*/\1/p" "$dmlog" 2>/dev/null | tail -n1)
[ -n "$restored_ms" ] && xt_metric mig-vgpu-state-restore "$restored_ms" ms
if [ -n "$state_bytes" ] && [ "$state_bytes" -lt 1048576 ]; then
  xt_pass mig-vram-with-memory "device state of $state_bytes bytes for a vGPU with 16 MiB of VRAM"
else
  xt_fail mig-vram-with-memory "device state of '${state_bytes}' bytes: the VRAM was saved in it"
fi
if grep -q "vGPU $uuid restored from" "$dmlog" 2>/dev/null && grep -q "vGPU $uuid: shared with the device model of the VM's previous domain $domid" "$dmlog" &&
  [ "$(xvgpuctl --json status 2>/dev/null | grep -o "\"$uuid\"" | wc -l)" -ge 1 ]; then
  xt_pass mig-restore "domain $new_domid restored the vGPU (shared the reservation with domain $domid's until it ended)"
else
  tail -n 30 "$dmlog" 2>/dev/null | xt_relay - "xvgpu-dm log"
  xvgpuctl status 2>&1 | xt_relay - "xvgpuctl status"
  xt_fail mig-restore "the receiver's xvgpu-dm did not restore the vGPU through a shared reservation"
fi

# The loop goes on at the new domain for a few more steps, then stops and reports. xenconsoled logs the receiving
# domain's console under the name it had when it appeared (NAME--incoming): the guest's lines since the migration
# are the rest of the first log and all of that one.
log2=$(xt_console_log "$name--incoming")
after=/tmp/$name-after.log
(while :; do
  { tail -n +$((lines_before + 1)) "$log"; cat "$log2" 2>/dev/null; } >$after.tmp && mv $after.tmp $after
  sleep 0.5
done) &
tailpid=$!
# Progress marks carry the driver's restore count: a mark with restores=1 is a step the receiving domain ran.
xt_wait_grep $after '^GUEST-MIGLOAD-PROGRESS steps=[0-9]* restores=1' 240 || true
xt_go "$new_domid" migload-stop
if ! xt_wait_grep $after '^GUEST-MIGLOAD steps=' 240; then
  kill $tailpid 2>/dev/null
  tail -n 30 $after | xt_relay - guest
  xt_fail mig-engine-loop "the guest's engine loop did not report after the migration"
  xt_fail mig-screenshot-after "no frame to compare"
  xl destroy $name 2>/dev/null
  exit 1
fi
sleep 1
kill $tailpid 2>/dev/null
line=$(grep -m1 '^GUEST-MIGLOAD steps=' $after | tr -d '\r')
grep -E '^GUEST-MIGLOAD-(FIRST-BAD|PROC)' $after | xt_relay - guest
progress_after=$(grep -c '^GUEST-MIGLOAD-PROGRESS steps=[0-9]* restores=1' $after)
problems=$(xt_migload_problems "$line" "$progress_after")
if [ -z "$problems" ]; then
  xt_pass mig-engine-loop "$(xt_kv "$line" steps) steps across the migration ($progress_after progress marks after it): $(xt_kv "$line" paints) band draws, $(xt_kv "$line" copies) copy tests, $(xt_kv "$line" jobs) engine jobs, $(xt_kv "$line" msis) MSIs = flagged descriptors"
else
  xt_fail mig-engine-loop "$line:$problems"
fi
bands=$(xt_kv "$line" bands)
xt_check_migload_frame mig-screenshot-after "$uuid" "$bands"
xt_go "$new_domid" migload-done
xl destroy $name 2>/dev/null
grep -v '^\[' $after | grep -v '^GUEST-MIGLOAD-PROGRESS' | tail -n 40 | xt_relay - guest
