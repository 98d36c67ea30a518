# The lab itself: Xen + dom0 boot, a PVH guest created paused from the dom0 command line, unpaused, proves it runs
# (prints the marker derived from this run's nonce) and powers itself off.
# checks: pvh-guest-runs pvh-guest-poweroff
# needs:
# timeout: 150
. /etc/xentest/lib.sh
xt_smoke_guest pvh 90 || exit 1
