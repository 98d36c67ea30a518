#!/usr/bin/env python3
"""Boots Xen 4.17 + a busybox dom0 under qemu-system-x86_64 (TCG), runs one scenario in dom0 and reads its verdicts.

The scenario (tests/xen/scenarios/NAME.sh) declares in its header the checks it must report (`# checks: a b`), what
it needs from the build (`# needs: dm ctl xl-scripts guest-tools`) and a time limit (`# timeout: S`). dom0 prints
`XENTEST-PASS|FAIL|SKIP <check> [detail]`, `XENTEST-TIME`, `XENTEST-METRIC`, `XENTEST-STAGE` lines and finally
`XENTEST-DONE` on its console, which Xen forwards to the emulated serial port (a file here).

A scenario whose header says `# host-vnc-port: PORT` gets a network card in the emulated machine (QEMU's user network,
restricted: no route out) with two forwards: a free port on the host's 127.0.0.1 to dom0's 10.0.2.15:PORT (a vGPU
console), and dom0's connections to 10.0.2.100:80 to host-vnc-check.py, which runs real VNC clients on the host
against that console (docs/real-xen-testing.md, "Consoles").

A guest's triple fault or crash before that guest reached its first marker (dom0's XENTEST-GUEST-STARTED) is a lab
fault: the scenario boots again on a fresh machine, up to --attempts boots, each retry printed as a LAB-RETRY line and
appended to the --lab-summary file (docs/real-xen-testing.md, "Lab faults").

Exit status: 0 every declared check passed; 1 a check failed, is missing, or the run broke (timeout, panic);
77 skipped (lab packages or a needed build product absent, or a check reported SKIP).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SKIP = 77
XEN_GZ = Path("/boot/xen-4.17-amd64.gz")
LAB_FILES = [
    XEN_GZ,
    Path("/usr/lib/xen-4.17/bin/xl"),
    Path("/usr/libexec/xen-qemu-system-i386"),
    Path("/usr/lib/xen-4.17/boot/hvmloader"),
    Path("/usr/share/seabios/bios-256k.bin"),
    Path("/bin/busybox"),
    Path("/usr/bin/lspci"),
]
LAB_TOOLS = ["qemu-system-x86_64", "cpio", "modprobe", "ldd"]
# Packages whose files go into the dom0 image: their versions key the cached base archive.
LAB_PACKAGES = ["xen-utils-4.17", "xen-hypervisor-4.17-amd64", "qemu-system-xen", "busybox-static", "seabios",
                "libc6", "pciutils"]
VERDICT_RE = re.compile(r"XENTEST-(PASS|FAIL|SKIP) (\S+) ?(.*)$")
TIME_RE = re.compile(r"XENTEST-TIME (\S+) (\S+)")
METRIC_RE = re.compile(r"XENTEST-METRIC (\S+) (\S+) (\S+)")
TRACE_RE = re.compile(r"XT-TRACE ([A-Za-z0-9_.-]+\.trace) (.*)$")
STAGE_RE = re.compile(r"XENTEST-STAGE (\S+) (\S+)")
# Xen's reports of a guest vCPU's death, each followed by the vCPU's state: a triple fault ("d1v0 Triple fault -
# invoking HVM shutdown action 1", hvm_triple_fault()) or a crash ("Domain 1 (vcpu#0) crashed on cpu#1:",
# __domain_crash()).
GUEST_FAULT_RE = re.compile(r"\bd(\d+)v(\d+) Triple fault[^\n]*|Domain (\d+) \(vcpu#(\d+)\) crashed on cpu#\d+")
# dom0 (lib.sh xt_guest_started): the domain has reached its first marker; a fault from then on is the product's.
GUEST_STARTED_RE = re.compile(r"XENTEST-GUEST-STARTED domid=(\d+)")
NOTE_RE = re.compile(r"XENTEST-NOTE (.*)$")
# Boots of one scenario when each earlier one ended in a lab fault (docs/real-xen-testing.md, "Lab faults").
DEFAULT_ATTEMPTS = 4
LAB_SUMMARY_ENV = "XVGPU_LAB_RETRY_LOG"
# dom0's address on the lab network (QEMU's user network gives the guest 10.0.2.15) and the host helper's.
LAB_NET_DOM0 = "10.0.2.15"
LAB_NET_HELPER = "10.0.2.100:80"
HOSTFWD_RE = re.compile(r"TCP\[HOST_FORWARD\]\s+\d+\s+127\.0\.0\.1\s+(\d+)\s+" + re.escape(LAB_NET_DOM0) + r"\s+(\d+)")
BROKEN_RE = re.compile(r"Panic on CPU|Kernel panic - not syncing|FATAL TRAP|Reboot in five seconds")


def skip(msg: str) -> int:
    print(f"SKIP: {msg}")
    return SKIP


def parse_header(script: Path) -> dict[str, str]:
    header: dict[str, str] = {}
    for line in script.read_text().splitlines():
        m = re.match(r"#\s*(checks|needs|timeout|guest-triple-faults|host-vnc-port):\s*(.*)$", line)
        if m:
            # checks and needs may span several lines.
            header[m.group(1)] = (header.get(m.group(1), "") + " " + m.group(2)).strip()
    return header


def kernel_version() -> str | None:
    kvers = sorted(p.name[len("vmlinuz-"):] for p in Path("/boot").glob("vmlinuz-*"))
    kvers = [k for k in kvers if Path(f"/lib/modules/{k}/modules.dep").exists()]
    return kvers[-1] if kvers else None


def package_versions() -> str:
    out = subprocess.run(["dpkg-query", "-W", "-f=${Package} ${Version}\n", *LAB_PACKAGES],
                         capture_output=True, text=True, check=False)
    return out.stdout


def digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(hashlib.sha256(p).digest())
    return h.hexdigest()[:16]


def files_digest(paths: list[Path]) -> bytes:
    out = b""
    for p in sorted(paths):
        if p.is_file():
            out += str(p).encode() + p.read_bytes()
    return out


def cached_build(cache: Path, prefix: str, key: str, build) -> Path:
    """Returns cache/prefix-key.cpio, building it with build(path) if absent; drops older builds of prefix."""
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / f"{prefix}-{key}.cpio"
    if not target.exists():
        for old in cache.glob(f"{prefix}-*.cpio"):
            old.unlink()
        build(target)
    return target


def run(cmd: list[str]) -> None:
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        sys.stderr.write(res.stdout + res.stderr)
        raise RuntimeError(f"command failed ({res.returncode}): {' '.join(cmd)}")


def hmp(sock_path: Path, commands: list[str], timeout: float = 20.0) -> str:
    """Runs QEMU human-monitor commands over the monitor socket; returns the transcript."""
    out = []
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(str(sock_path))

        def read_prompt() -> str:
            buf = b""
            while not buf.endswith(b"(qemu) "):
                data = s.recv(65536)
                if not data:
                    break
                buf += data
            return buf.decode("utf-8", "replace")

        read_prompt()
        for cmd in commands:
            s.sendall(cmd.encode() + b"\n")
            out.append(f"==== {cmd}\n" + read_prompt().replace("\r", "").removesuffix("(qemu) "))
    return "\n".join(out)


def record_host_ports(monitor: Path, work: Path) -> None:
    """Writes WORK/lab-net.json: the host port QEMU picked for each forward to dom0 (`info usernet`), read by
    host-vnc-check.py. Runs in its own thread while QEMU starts."""
    for _ in range(100):
        try:
            ports = {g: h for h, g in HOSTFWD_RE.findall(hmp(monitor, ["info usernet"], timeout=5))}
            if ports:
                tmp = work / "lab-net.json.tmp"
                tmp.write_text(json.dumps({"hostfwd": ports}) + "\n")
                tmp.rename(work / "lab-net.json")
                return
        except OSError:
            pass
        time.sleep(0.2)
    print("xen-test: no host forward found in QEMU's `info usernet`", flush=True)


def serial_type(sock_path: Path, keys: bytes) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect(str(sock_path))
        for k in keys:
            s.sendall(bytes([k]))
            time.sleep(0.05)
        time.sleep(0.5)


def stall_dump(work: Path, monitor: Path, serial_sock: Path, at: float, quiet: float) -> None:
    """A machine silent for long: record every CPU's state, then ask Xen for its own view through debug keys.

    Three Ctrl-A switch the serial console's input to Xen; 'q' dumps domains and vCPUs, 'r' the run queues, 'e' event
    channels, 't' time, 'd' the physical CPUs' registers. Whatever Xen prints lands in the serial log; if nothing
    does, Xen no longer takes the UART's interrupt either."""
    dump = work / "stall-dump.txt"
    try:
        cmds = ["info status", "info cpus", "info registers -a", "info pic", "info irq"]
        for cpu in (0, 1):
            cmds += [f"cpu {cpu}", "info lapic"]
        text = hmp(monitor, cmds)
        text += "\n==== after 5 s\n"
        time.sleep(5)
        text += hmp(monitor, ["info cpus", "info registers -a"])
        dump.write_text(f"stall after {quiet:.0f} s without serial output, at {at:.1f} s\n" + text)
        rips = re.findall(r"CPU#(\d+)\nRAX=.*?\nRIP=([0-9a-f]+) RFL=([0-9a-f]+).*?HLT=(\d)", text, re.S)
        print(f"xen-test: no serial output for {quiet:.0f} s at {at:.1f} s; machine state in {dump}: " +
              ", ".join(f"cpu{c} rip={r} rfl={f} hlt={h}" for c, r, f, h in rips), flush=True)
    except OSError as e:
        print(f"xen-test: stall dump through {monitor} failed: {e}", flush=True)
    try:
        serial_type(serial_sock, b"\x01\x01\x01" + b"qretd" + b"\x01\x01\x01")
    except OSError as e:
        print(f"xen-test: typing Xen debug keys through {serial_sock} failed: {e}", flush=True)


def save_traces(work: Path, serial: Path) -> list[Path]:
    """Writes the xvgpu-dm ioreq traces that dom0 printed ("XT-TRACE FILE LINE") to WORK/ioreq-traces/FILE."""
    traces: dict[str, list[str]] = {}
    if serial.exists():
        for line in serial.read_text("utf-8", "replace").replace("\r", "").split("\n"):
            if m := TRACE_RE.search(line):
                traces.setdefault(m.group(1), []).append(m.group(2))
    out = work / "ioreq-traces"
    saved = []
    for name, lines in traces.items():
        out.mkdir(exist_ok=True)
        path = out / name
        path.write_text("\n".join(lines) + "\n")
        saved.append(path)
    return saved


class Attempt:
    """What one boot of the emulated machine showed."""

    def __init__(self) -> None:
        self.verdicts: dict[str, tuple[str, str, float]] = {}
        self.order: list[str] = []
        self.times: list[tuple[str, str]] = []
        self.metrics: list[tuple[str, str, str]] = []
        self.stages: list[tuple[str, float]] = []
        self.notes: list[str] = []
        self.started: set[int] = set()  # domains that reached their first marker
        self.done = False
        self.broken = ""  # the line that ended the run: a panic or a guest fault
        self.lab_fault = ""  # set when that line is a guest's fault before its first marker
        self.lab_fault_context: list[str] = []
        self.timed_out = False
        self.wall = 0.0
        self.qemu_out = ""


def guest_fault(line: str) -> tuple[int, str] | None:
    """(domid, description) when the line is Xen's report of a guest vCPU's triple fault or crash."""
    m = GUEST_FAULT_RE.search(line)
    if not m:
        return None
    if m.group(1) is not None:
        domid, what = int(m.group(1)), f"d{m.group(1)}v{m.group(2)} triple fault"
    else:
        domid, what = int(m.group(3)), f"d{m.group(3)}v{m.group(4)} crashed"
    return (domid, what) if domid != 0 else None


def boot(qemu: list[str], serial: Path, monitor: Path, serial_sock: Path, work: Path, limit: float,
         stall_dump_s: float, count_faults: bool, name: str, lab_net: bool = False) -> Attempt:
    """Runs QEMU until dom0's DONE, a crash, a guest fault or the time limit; collects what dom0 reported."""
    a = Attempt()
    t0 = time.monotonic()
    proc = subprocess.Popen(qemu, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    if lab_net:
        threading.Thread(target=record_host_ports, args=(monitor, work), daemon=True).start()
    pos = 0
    pending = ""
    last_output = time.monotonic()
    stall_dumped = False
    stop_by = None  # after a crash: read on until the console is quiet, so that Xen's vCPU dump is in the log
    context_left = 0
    while True:
        exited = proc.poll() is not None
        if serial.exists():
            with serial.open("rb") as f:
                f.seek(pos)
                chunk = f.read()
                pos += len(chunk)
            if chunk:
                last_output = time.monotonic()
            pending += chunk.decode("utf-8", "replace").replace("\r", "")
            *lines, pending = pending.split("\n")
            now = time.monotonic() - t0
            for line in lines:
                if context_left > 0:
                    a.lab_fault_context.append(line)
                    context_left -= 1
                if m := VERDICT_RE.search(line):
                    if m.group(2) not in a.verdicts:
                        a.order.append(m.group(2))
                    # A check keeps its worst verdict.
                    prev = a.verdicts.get(m.group(2))
                    if prev is None or prev[0] == "PASS" or m.group(1) == "FAIL":
                        a.verdicts[m.group(2)] = (m.group(1), m.group(3).strip(), now)
                elif m := TIME_RE.search(line):
                    a.times.append((m.group(1), m.group(2)))
                elif m := METRIC_RE.search(line):
                    a.metrics.append((m.group(1), m.group(2), m.group(3)))
                elif m := STAGE_RE.search(line):
                    a.stages.append((m.group(1), now))
                elif m := GUEST_STARTED_RE.search(line):
                    a.started.add(int(m.group(1)))
                elif m := NOTE_RE.search(line):
                    a.notes.append(m.group(1).strip())
                    print(f"xen-test {name}: {m.group(1).strip()} (at {now:.1f} s)", flush=True)
                elif "XENTEST-DONE" in line:
                    a.done = True
                elif a.broken:
                    continue
                elif BROKEN_RE.search(line):
                    a.broken = line.strip()
                elif (fault := guest_fault(line)) and not count_faults:
                    domid, what = fault
                    a.broken = line.strip()
                    if domid not in a.started:
                        a.lab_fault = f"{what} before the guest's first marker (domain {domid})"
                        a.lab_fault_context = [line]
                        context_left = 60
        if exited:
            break
        if time.monotonic() - t0 > limit:
            a.timed_out = True
            break
        if stall_dump_s > 0 and not stall_dumped and time.monotonic() - last_output > stall_dump_s:
            stall_dumped = True
            stall_dump(work, monitor, serial_sock, time.monotonic() - t0, time.monotonic() - last_output)
        if a.broken:
            if stop_by is None:
                stop_by = time.monotonic() + 15
            # Xen prints the vCPU's registers and stack after the line; stop once the console has been quiet for 2 s.
            if time.monotonic() - last_output > 2 or time.monotonic() > stop_by:
                break
        time.sleep(0.1)
    a.wall = time.monotonic() - t0
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    a.qemu_out = proc.stdout.read().decode("utf-8", "replace") if proc.stdout else ""
    return a


def record_lab_event(summary: Path, text: str) -> None:
    """Appends one line to the run-wide summary that .ci/run counts."""
    try:
        summary.parent.mkdir(parents=True, exist_ok=True)
        with summary.open("a") as f:
            f.write(time.strftime("%Y-%m-%dT%H:%M:%SZ ", time.gmtime()) + text + "\n")
    except OSError as e:
        print(f"xen-test: cannot append to the lab summary {summary}: {e}", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenario", required=True, help="name of a script in tests/xen/scenarios (without .sh)")
    ap.add_argument("--work-dir", type=Path, default=Path("/tmp/xvgpu-xen-test"))
    ap.add_argument("--cache-dir", type=Path, help="where the dom0 base archive is cached (default WORK/../cache)")
    ap.add_argument("--dm", type=Path, help="xvgpu-dm binary")
    ap.add_argument("--ctl", type=Path, help="xvgpuctl binary")
    ap.add_argument("--xl-scripts", type=Path, help="the project's xl-scripts directory")
    ap.add_argument("--plugin-dir", type=Path, help="vendor plugins (*.so) to put into dom0")
    ap.add_argument("--guest-tools", type=Path, help="directory of static guest programs (and guest modules)")
    ap.add_argument("--dom0-tools", type=Path, help="directory of test programs to run in dom0")
    ap.add_argument("--timeout", type=float, help="override the scenario's time limit (seconds)")
    ap.add_argument("--memory", default="2G", help="memory of the emulated machine")
    ap.add_argument("--xen-arg", action="append", default=[], help="extra Xen command-line argument (repeatable)")
    ap.add_argument("--scenario-arg", action="append", default=[], metavar="KEY=VALUE",
                    help="parameter for the scenario (xentest.KEY=VALUE on dom0's command line; lib.sh "
                         "xt_scenario_arg), repeatable")
    ap.add_argument("--qemu-cpu", default="qemu64,+svm,+npt", help="QEMU -cpu model")
    ap.add_argument("--qemu-accel", default="tcg", help="QEMU -accel value, e.g. tcg,thread=single")
    ap.add_argument("--extra-qemu-arg", action="append", default=[], metavar="ARG",
                    help="extra argument for QEMU's command line, repeatable (e.g. a second network joining two lab "
                         "machines: tests/xen/manual/two-host-migrate.sh)")
    ap.add_argument("--stall-dump", type=float, default=120.0,
                    help="seconds without serial output after which the emulated machine's state is dumped once "
                         "through the QEMU monitor (0: never)")
    ap.add_argument("--attempts", type=int, default=DEFAULT_ATTEMPTS,
                    help="boots at most, when each earlier one ended in a lab fault (a guest's triple fault or "
                         f"crash before its first marker); default {DEFAULT_ATTEMPTS}")
    ap.add_argument("--budget", type=float,
                    help="seconds for the whole run, images and every attempt: no further attempt starts unless "
                         "the scenario's time limit still fits (ctest passes its TIMEOUT minus a margin)")
    ap.add_argument("--lab-summary", type=Path,
                    help=f"file each lab retry is appended to (default ${LAB_SUMMARY_ENV}, else "
                         "WORK/../lab-retries.log)")
    args = ap.parse_args()
    t_start = time.monotonic()

    scenario = HERE / "scenarios" / f"{args.scenario}.sh"
    if not scenario.is_file():
        print(f"FAIL: no scenario {scenario}")
        return 1
    header = parse_header(scenario)
    checks = header.get("checks", "").split()
    needs = header.get("needs", "").split()
    limit = args.timeout or float(header.get("timeout", "300"))
    vnc_port = header.get("host-vnc-port", "")
    if vnc_port and not vnc_port.isdigit():
        print(f"FAIL: {scenario}: host-vnc-port must be a port number, not {vnc_port!r}")
        return 1
    # A measurement scenario counts guest faults itself instead of having the run stopped by them.
    count_faults = header.get("guest-triple-faults", "") == "counted"
    for kv in args.scenario_arg:
        if not re.fullmatch(r"[a-z][a-z0-9_]*=\S*", kv):
            print(f"FAIL: --scenario-arg {kv!r}: expected key=value (key lower case, no spaces in the value)")
            return 1
    summary = args.lab_summary or Path(os.environ.get(LAB_SUMMARY_ENV) or args.work_dir.parent / "lab-retries.log")

    # Prerequisites: absent lab packages or build products are a skip, reported as such, never a pass.
    missing = [str(p) for p in LAB_FILES if not p.exists()] + [t for t in LAB_TOOLS if not shutil.which(t)]
    kver = kernel_version()
    if kver is None:
        missing.append("/boot/vmlinuz-* with /lib/modules")
    if missing:
        return skip("real-Xen lab not installed (missing: " + ", ".join(missing) +
                    "); install it with scripts/install-deps.sh --xen-lab")
    need_paths = {"dm": args.dm, "ctl": args.ctl, "xl-scripts": args.xl_scripts, "guest-tools": args.guest_tools,
                  "dom0-tools": args.dom0_tools}
    for need in needs:
        p = need_paths.get(need)
        if p is None or not p.exists():
            return skip(f"scenario {args.scenario} needs {need} ({p or 'not given'}), which is not built yet")

    work = args.work_dir
    cache = args.cache_dir or work.parent / "cache"
    for old in [work, *work.parent.glob(f"{work.name}-attempt*")]:
        shutil.rmtree(old, ignore_errors=True)
    work.mkdir(parents=True)
    t_prep = time.monotonic()

    xen_elf = cache / f"xen-{digest(XEN_GZ.read_bytes())}.elf"
    if not xen_elf.exists():
        cache.mkdir(parents=True, exist_ok=True)
        tmp = xen_elf.with_suffix(".tmp")
        tmp.write_bytes(gzip.decompress(XEN_GZ.read_bytes()))
        tmp.rename(xen_elf)

    base_inputs = [HERE / "mkinitramfs-dom0.sh", HERE / "lib" / "rootfs.sh", HERE / "dom0" / "init",
                   HERE / "dom0" / "lib.sh"]
    base_key = digest(files_digest(base_inputs), package_versions().encode(), kver.encode())
    base = cached_build(cache, "dom0", base_key,
                        lambda out: run([str(HERE / "mkinitramfs-dom0.sh"), str(out), kver]))

    guest_inputs = [HERE / "mkinitramfs-guest.sh", HERE / "lib" / "rootfs.sh", *sorted((HERE / "guest").rglob("*"))]
    if args.guest_tools and args.guest_tools.is_dir():
        guest_inputs += sorted(args.guest_tools.iterdir())
    guest_key = digest(files_digest(guest_inputs), package_versions().encode(), kver.encode())

    def build_guest(out: Path) -> None:
        cmd = [str(HERE / "mkinitramfs-guest.sh"), str(out), kver]
        if args.guest_tools and args.guest_tools.is_dir():
            cmd.append(str(args.guest_tools))
        run(cmd)

    # The xz copy is built beside the plain one; a cache hit needs both.
    guest = cache / f"guest-{guest_key}.cpio"
    if not Path(f"{guest}.xz").exists():
        guest.unlink(missing_ok=True)
    for old in cache.glob("guest-*.cpio.xz"):
        if old.name != f"{guest.name}.xz":
            old.unlink()
    guest = cached_build(cache, "guest", guest_key, build_guest)

    overlay = work / "overlay.cpio"
    overlay_cmd = [str(HERE / "mkinitramfs-overlay.sh"), str(overlay), str(scenario), str(guest)]
    for opt, val in (("--dm", args.dm), ("--ctl", args.ctl), ("--xl-scripts", args.xl_scripts),
                     ("--plugin-dir", args.plugin_dir), ("--dom0-tools", args.dom0_tools)):
        if val is not None and val.exists():
            overlay_cmd += [opt, str(val)]
    run(overlay_cmd)

    dom0_img = work / "dom0.cpio"
    with dom0_img.open("wb") as out:
        for part in (base, overlay):
            with part.open("rb") as src:
                shutil.copyfileobj(src, out)
    overlay.unlink()
    prep_s = time.monotonic() - t_prep

    serial = work / "serial.log"
    # sched_credit2_migrate_resist=0: with the default (500 us) an idle CPU of credit2 does not take a runnable vCPU
    # whose credit sits at the floor (CSCHED2_CREDIT_MIN) from the runqueue unless that CPU was its last one, and
    # under this emulation dom0's busy vCPU reached the floor while its last CPU idled too: both CPUs halted for good
    # with dom0 runnable in the runqueue and the guest's vCPUs waiting for their ioreqs (docs/real-xen-testing.md,
    # "The hammer hang").
    xen_args = ("console=com1 com1=115200,8n1 loglvl=all guest_loglvl=all console_timestamps=boot "
                "dom0_mem=1024M,max:1024M dom0_max_vcpus=1 noreboot bootscrub=false sched_credit2_migrate_resist=0")
    if args.xen_arg:
        xen_args += " " + " ".join(args.xen_arg)
    dom0_args = "console=hvc0 earlyprintk=xen loglevel=4"
    dom0_args += "".join(f" xentest.{kv}" for kv in args.scenario_arg)
    # The serial port is a socket chardev that also logs to the file: the runner can then type Xen debug keys into a
    # stalled machine (a UART interrupt also tells whether it still takes interrupts at all). The monitor socket
    # serves the stall dump.
    sock_dir = work
    if len(str(work)) > 80:  # unix socket paths are limited to 108 bytes
        sock_dir = Path(tempfile.mkdtemp(prefix="xvgpu-xen-"))
    monitor = sock_dir / "monitor.sock"
    serial_sock = sock_dir / "serial.sock"
    qemu = ["qemu-system-x86_64", "-accel", args.qemu_accel, "-cpu", args.qemu_cpu, "-machine", "q35",
            "-m", args.memory, "-smp", "2", "-display", "none", "-nodefaults", "-no-reboot",
            "-chardev", f"socket,id=ser0,path={serial_sock},server=on,wait=off,logfile={serial},logappend=off",
            "-serial", "chardev:ser0", "-monitor", f"unix:{monitor},server=on,wait=off",
            "-kernel", str(xen_elf), "-append", xen_args,
            "-initrd", f"/boot/vmlinuz-{kver} {dom0_args},{dom0_img}"]
    if vnc_port:
        # restrict=on: dom0 reaches nothing but the forwards. libslirp spawns the helper per connection (guestfwd
        # cmd:, split into arguments shell-style, no shell), the connection on its stdin, stdout and stderr; the helper
        # logs to WORK/host-vnc-check.log.
        helper = f"/usr/bin/python3 {HERE / 'host-vnc-check.py'} {work}"
        if "," in helper or " " in str(work):
            print(f"FAIL: a comma or space in {helper!r} would split QEMU's -netdev option or the helper's arguments")
            return 1
        qemu += ["-netdev", f"user,id=lab,restrict=on,ipv6=off,hostfwd=tcp:127.0.0.1:0-{LAB_NET_DOM0}:{vnc_port},"
                 f"guestfwd=tcp:{LAB_NET_HELPER}-cmd:{helper}", "-device", "e1000,netdev=lab"]
    qemu += args.extra_qemu_arg
    print(f"xen-test {args.scenario}: images ready in {prep_s:.1f} s; booting (limit {limit:.0f} s), serial log {serial}",
          flush=True)

    # A guest's triple fault or crash before its first marker is the lab's (QEMU's nested SVM emulation, see
    # docs/real-xen-testing.md "Lab faults"): the scenario boots again on a fresh machine, up to --attempts boots, each
    # faulted attempt's files kept in WORK-attemptN. Every retry is printed and appended to the run's summary.
    lab_faults: list[str] = []
    attempt_no = 1
    while True:
        (work / "qemu-cmdline.txt").write_text(" ".join(qemu) + "\n")
        a = boot(qemu, serial, monitor, serial_sock, work, limit, args.stall_dump, count_faults, args.scenario,
                 lab_net=bool(vnc_port))
        if not a.lab_fault:
            break
        reason = f"{a.lab_fault}, {a.wall:.0f} s after QEMU started"
        print(f"xen-test {args.scenario}: attempt {attempt_no} ended in a lab fault: {reason}; Xen's report:",
              flush=True)
        print("\n".join("  | " + line for line in a.lab_fault_context), flush=True)
        lab_faults.append(f"attempt {attempt_no}: {reason}")
        elapsed = time.monotonic() - t_start
        give_up = ""
        if attempt_no >= args.attempts:
            give_up = f"attempts={attempt_no}"
        elif args.budget and elapsed + limit > args.budget:
            give_up = (f"attempts={attempt_no} (no time for another boot: {args.budget - elapsed:.0f} s left of the "
                       f"budget, a boot may take {limit:.0f} s)")
        if give_up:
            # The last attempt's files stay in WORK for the failure report.
            line = f"LAB-GIVE-UP scenario={args.scenario} {give_up} reason=\"{reason}\" logs={work}"
            print(line, flush=True)
            record_lab_event(summary, line)
            break
        kept = work.parent / f"{work.name}-attempt{attempt_no}"
        shutil.rmtree(kept, ignore_errors=True)
        work.rename(kept)
        work.mkdir()
        (kept / dom0_img.name).rename(dom0_img)
        if a.qemu_out.strip():
            (kept / "qemu-output.txt").write_text(a.qemu_out)
        attempt_no += 1
        line = f"LAB-RETRY scenario={args.scenario} attempt={attempt_no} reason=\"{reason}\" logs={kept}"
        print(line, flush=True)
        record_lab_event(summary, line)
    if sock_dir != work:
        shutil.rmtree(sock_dir, ignore_errors=True)

    # Report.
    print(f"xen-test {args.scenario}: QEMU ran {a.wall:.1f} s (images {prep_s:.1f} s)"
          + (f", attempt {attempt_no}" if attempt_no > 1 else ""))
    for name, at in a.stages:
        print(f"  stage {name:<24} at {at:6.1f} s")
    for name, val in a.times:
        print(f"  time  {name:<24} {val} s (dom0 clock)")
    for name, val, unit in a.metrics:
        print(f"  metric {name:<23} {val} {unit}")
    for path in save_traces(work, serial):
        print(f"  ioreq trace {path}")
    failures = []
    skipped = []
    for name in a.order + [c for c in checks if c not in a.verdicts]:
        verdict, detail, at = a.verdicts.get(name, ("MISSING", "no verdict reported", a.wall))
        print(f"  {verdict:<7} {name:<28} {detail}" + (f" (at {at:.1f} s)" if verdict != "MISSING" else ""))
        if verdict in ("FAIL", "MISSING"):
            failures.append(name)
        elif verdict == "SKIP":
            skipped.append(name)
    if a.timed_out:
        failures.append(f"timeout after {limit:.0f} s")
    if a.broken:
        failures.append(("lab fault, attempts spent: " if a.lab_fault else "crash: ") + a.broken)
    if not a.done and not a.timed_out and not a.broken:
        failures.append("dom0 did not report DONE")
    if a.qemu_out.strip():
        print("QEMU said:\n" + a.qemu_out.strip())
    if lab_faults:
        print(f"xen-test {args.scenario}: earlier attempts ended in lab faults: " + "; ".join(lab_faults))
    if failures:
        tail = serial.read_bytes().decode("utf-8", "replace").replace("\r", "").splitlines()[-120:] if serial.exists() else []
        print(f"FAIL: {args.scenario}: " + "; ".join(failures))
        print(f"---- last {len(tail)} lines of {serial} ----")
        print("\n".join(tail))
        print("---- end of serial log ----")
        return 1
    if skipped:
        return skip(f"{args.scenario}: checks skipped: {', '.join(skipped)}")
    print(f"PASS: {args.scenario}: {len(checks)} checks passed in {a.wall:.1f} s"
          + (f" on attempt {attempt_no}" if attempt_no > 1 else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
