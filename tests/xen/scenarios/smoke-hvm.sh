# The lab itself: Xen + dom0 boot, an HVM guest (qemu-xen, hvmloader, direct kernel boot) created paused from the
# dom0 command line, unpaused, proves it runs
# (prints the marker derived from this run's nonce) and powers itself off.
# checks: hvm-guest-runs hvm-guest-poweroff
# needs:
# timeout: 480
. /etc/xentest/lib.sh
name=smoke-hvm
nonce=$(xt_new_nonce)
xt_write_cfg /tmp/$name.cfg $name hvm "$nonce" ""
t0=$(xt_uptime)
if ! xl create -p /tmp/$name.cfg >/tmp/$name-create.log 2>&1; then
  xt_dump $name
  xt_fail hvm-guest-runs "xl create -p failed"
  exit 1
fi
xt_time hvm-create-paused "$(xt_since "$t0")"
xl unpause $name
log=$(xt_console_log $name)
if xt_wait_grep "$log" "GUEST-MARKER $(xt_marker "$nonce")" 360; then
  xt_time hvm-guest-marker "$(xt_since "$t0")"
  xt_pass hvm-guest-runs "$(grep -m1 GUEST-MARKER "$log")"
else
  xt_dump $name
  xt_fail hvm-guest-runs "no marker from the guest within 360 s"
  exit 1
fi
if xt_wait_grep "$log" "^GUEST-DONE" 30 && xt_wait_gone $name 30; then
  xt_time hvm-guest-gone "$(xt_since "$t0")"
  xt_pass hvm-guest-poweroff
else
  xt_dump $name
  xt_fail hvm-guest-poweroff "guest did not power off"
fi
grep "^GUEST-" "$log" | xt_relay - guest
