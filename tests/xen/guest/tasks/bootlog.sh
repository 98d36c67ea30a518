# Where the guest kernel's boot spent its time: the kernel log lines that came 0.3 s or more after the previous one
# (the gap first), at most 25 of them, slowest first. Each slow step under TCG is usually a run of emulated I/O
# accesses (one ioreq each) or a probe's timeout.
echo "GUEST-BOOTLOG-BEGIN"
dmesg | awk '{ t = substr($0, 2, index($0, "]") - 2) + 0; if (NR > 1 && t - p >= 0.3) printf "%.2f %s\n", t - p, $0; p = t }' |
  sort -rn | head -n 25
echo "GUEST-BOOTLOG-END up=$(cut -d' ' -f1 /proc/uptime)"
