# The lab itself: Xen + dom0 boot, a PVH guest created paused from the dom0 command line, unpaused, proves it runs
# (prints the marker derived from this run's nonce) and powers itself off.
# checks: pvh-guest-runs pvh-guest-poweroff
# needs:
# timeout: 150
. /etc/xentest/lib.sh
name=smoke-pvh
nonce=$(xt_new_nonce)
xt_write_cfg /tmp/$name.cfg $name pvh "$nonce" ""
t0=$(xt_uptime)
if ! xl create -p /tmp/$name.cfg >/tmp/$name-create.log 2>&1; then
  xt_dump $name
  xt_fail pvh-guest-runs "xl create -p failed"
  exit 1
fi
xt_time pvh-create-paused "$(xt_since "$t0")"
xl unpause $name
log=$(xt_console_log $name)
if xt_wait_grep "$log" "GUEST-MARKER $(xt_marker "$nonce")" 90; then
  xt_time pvh-guest-marker "$(xt_since "$t0")"
  xt_pass pvh-guest-runs "$(grep -m1 GUEST-MARKER "$log")"
else
  xt_dump $name
  xt_fail pvh-guest-runs "no marker from the guest within 90 s"
  exit 1
fi
if xt_wait_grep "$log" "^GUEST-DONE" 30 && xt_wait_gone $name 30; then
  xt_time pvh-guest-gone "$(xt_since "$t0")"
  xt_pass pvh-guest-poweroff
else
  xt_dump $name
  xt_fail pvh-guest-poweroff "guest did not power off"
fi
grep "^GUEST-" "$log" | xt_relay - guest
