# The lab itself: Xen + dom0 boot, an HVM guest (qemu-xen, hvmloader, direct kernel boot) created paused from the
# dom0 command line, unpaused, proves it runs
# (prints the marker derived from this run's nonce) and powers itself off.
# checks: hvm-guest-runs hvm-guest-poweroff
# needs:
# timeout: 480
. /etc/xentest/lib.sh
xt_smoke_guest hvm 360 || exit 1
