# TIMEOFFSET (issue 13, HVM only: a PVH domain has no emulated RTC): the guest sets its clock one day ahead and
# writes it to the RTC (busybox hwclock -w, UTC), then one day back and writes it again. Each RTC write ends with the
# SET bit cleared, and Xen's rtc.c then sends the change in seconds as a TIMEOFFSET through the buffered ring; dom0
# reads xvgpu-dm's counters between the steps.
. /xentest/lib.sh
echo "GUEST-RTC-READY rtc=$(ls /dev/rtc* 2>/dev/null | tr '\n' ' ')"
xt_wait_go rtc-forward 300 || exit 1
t=$(date +%s)
date -u -s "@$((t + 86400))" >/dev/null && hwclock -u -w 2>&1
echo "GUEST-RTC-FORWARD from=$t to=$(date +%s) rtc=$(hwclock -u 2>&1 | tr ' ' '_')"
xt_wait_go rtc-back 300 || exit 1
t=$(date +%s)
date -u -s "@$((t - 86400))" >/dev/null && hwclock -u -w 2>&1
echo "GUEST-RTC-BACK from=$t to=$(date +%s) rtc=$(hwclock -u 2>&1 | tr ' ' '_')"
