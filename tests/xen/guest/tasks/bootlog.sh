# Where the guest kernel's boot spent its time: each step of 0.3 s or more between two kernel log lines, as
# "GAP_S after: LINE_BEFORE | next: LINE_AFTER", at most 20, slowest first. Under TCG a slow step is usually a run of
# emulated I/O accesses (one ioreq each) or a probe's timeout.
echo "GUEST-BOOTLOG-BEGIN"
dmesg | awk '{ t = substr($0, 2, index($0, "]") - 2) + 0; m = substr($0, index($0, "]") + 2)
  if (NR > 1 && t - p >= 0.3) printf "%.2f after: %s | next: %s\n", t - p, substr(pm, 1, 60), substr(m, 1, 60)
  p = t; pm = m }' | sort -rn | head -n 20
echo "GUEST-BOOTLOG-END up=$(cut -d' ' -f1 /proc/uptime)"
