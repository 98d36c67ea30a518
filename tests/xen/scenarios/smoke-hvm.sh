# The lab itself: Xen + dom0 boot, an HVM guest (qemu-xen, hvmloader, direct kernel boot: the ELF kernel through
# qemu-xen's PVH loader, the vCPU on dom0's physical CPU, see xt_write_cfg) created paused from the dom0 command line,
# unpaused, proves it runs (prints the marker derived from this run's nonce) and powers itself off.
# checks: hvm-guest-runs hvm-guest-poweroff
# needs:
# timeout: 300
. /etc/xentest/lib.sh
xt_pin_dom0
xt_smoke_guest hvm 200 || exit 1
