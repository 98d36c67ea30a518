#!/usr/bin/env python3
"""Turns an xvgpu-dm ioreq trace (xvgpu-dm --ioreq-trace) into one input of the ioreq_request fuzzer: every traced
shape as a request, steered into the fuzzer's claimed ranges with its page offsets kept.
Usage: trace_to_fuzz_seeds.py TRACE OUT"""
import re
import struct
import sys

LINE = re.compile(r"^(sync|buffered) (\w+) (read|write) size=(\d+) count=(\d+) ptr=(\d) df=(\d) addr=(0x[0-9a-f]+) "
                  r"bufoff=(0x[0-9a-f]+) \S+ n=\d+$")
TYPES = {"pio": 0, "mmio": 1, "pci": 2, "timeoffset": 7, "invalidate": 8}


def main() -> int:
    trace, out = sys.argv[1], sys.argv[2]
    data = bytearray()
    for line in open(trace):
        m = LINE.match(line.strip())
        if not m:
            continue
        channel, kind, direction, size, count, ptr, df, addr, bufoff = m.groups()
        addr, bufoff, ptr = int(addr, 16), int(bufoff, 16), int(ptr)
        # The fuzzer's steering bits: 1 = MMIO into its claim (addr & 0x1fff kept), 4 = buffer into guest RAM
        # (data & 0xfffff), 64 = buffered ring.
        steer = (1 if kind == "mmio" else 0) | (4 if ptr else 0) | (64 if channel == "buffered" else 0)
        flags = (1 if direction == "read" else 0) << 5 | int(df) << 6 | ptr << 4 | 1  # state READY
        data += bytes([steer]) + struct.pack("<QQIIIHBB", addr, 0x10000 + bufoff if ptr else 0x5a5a, int(count),
                                             int(size), 0, 0, flags, TYPES[kind])
    open(out, "wb").write(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
