#!/usr/bin/env python3
"""Stamps the guest heartbeat lines (XT-TICK A|B N UPTIME) in OUT/a/serial.log and OUT/b/serial.log with this host's
clock as they appear, until OUT/stop exists; then reports the gaps: the largest between consecutive heartbeats on
each host, and from the last one on A (the sender) to the first one on B (the receiver), the downtime the guest saw.
Part of tests/xen/manual/two-host-migrate.sh."""

import re
import sys
import time
from pathlib import Path

TICK_RE = re.compile(r"XT-TICK ([AB]) (\d+) ([0-9.]+)")


def main() -> int:
    out = Path(sys.argv[1])
    files = {"A": out / "a" / "serial.log", "B": out / "b" / "serial.log"}
    pos = {k: 0 for k in files}
    pending = {k: "" for k in files}
    ticks: list[tuple[float, str, int, float]] = []  # host time, host, counter, guest uptime
    while not (out / "stop").exists():
        for k, f in files.items():
            try:
                with f.open("rb") as fh:
                    if fh.seek(0, 2) < pos[k]:
                        pos[k] = 0  # the runner started the file again
                    fh.seek(pos[k])
                    chunk = fh.read()
            except OSError:
                continue
            now = time.time()
            pos[k] += len(chunk)
            pending[k] += chunk.decode("utf-8", "replace").replace("\r", "")
            *lines, pending[k] = pending[k].split("\n")
            for line in lines:
                if m := TICK_RE.search(line):
                    ticks.append((now, m.group(1), int(m.group(2)), float(m.group(3))))
        time.sleep(0.02)
    with (out / "ticks-stamped.txt").open("w") as f:
        for t in ticks:
            f.write(f"{t[0]:.3f} {t[1]} {t[2]} {t[3]:.2f}\n")
    a = [t for t in ticks if t[1] == "A"]
    b = [t for t in ticks if t[1] == "B"]
    print(f"heartbeats: {len(a)} on A, {len(b)} on B (stamped in {out / 'ticks-stamped.txt'})")
    for name, seq in (("A", a), ("B", b)):
        if len(seq) > 1:
            gaps = sorted(seq[i + 1][0] - seq[i][0] for i in range(len(seq) - 1))
            print(f"  gaps on {name}: median {gaps[len(gaps) // 2]:.3f} s, largest {gaps[-1]:.3f} s")
    if a and b:
        last_a, first_b = a[-1], b[0]
        print(f"downtime (host clock, last heartbeat on A -> first on B): {first_b[0] - last_a[0]:.3f} s; guest "
              f"counter {last_a[2]} -> {first_b[2]}, guest uptime {last_a[3]:.2f} -> {first_b[3]:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
