#!/usr/bin/python3
"""Host side of the lab's console checks: real VNC clients no one here wrote, run on the host against a vGPU console
in the emulated machine's dom0.

QEMU's user network (run-xen-test.py, scenario header `# host-vnc-port: PORT`) forwards a free host port on
127.0.0.1 to dom0's 10.0.2.15:PORT and spawns this program for every connection dom0 opens to 10.0.2.100:80
(guestfwd), the connection on stdin/stdout (and stderr: the log is WORK/host-vnc-check.log). dom0 sends one request:

    vnc-check TAG GUEST_PORT PNG_BYTES\\n<PNG_BYTES bytes: dom0's `xvgpuctl screenshot` of the vGPU>

and reads one line of measured values back (dom0 judges them: lib.sh xt_check_vnc):

    shot=WxH capture=WxH capture_differing=N snapshot=WxH snapshot_mean_abs=X colors=N capture_s=S snapshot_s=S
    novnc=at:X,Y|none|unavailable:WHAT novnc_mean_abs=X novnc_far=F novnc_attempts=N novnc_s=S

or `unavailable=TOOL` (a client or python3-pil missing: dom0 reports the checks skipped) or `error=TEXT`.

    vnc-type TAG GUEST_PORT TEXT\n

first moves the pointer to (100,100) and (300,250), clicks the left button, moves to (250,200) and clicks the right
one, then types TEXT (letters and digits; Shift held for capitals) and Return into the console with Debian's Net::VNC
(the library under vnccapture), and answers `typed=TEXT pointer=100,100:300,250:left:250,200:right client_s=S` (dom0
compares what the guest's mouse and keyboard got).
Debian's vnccapture (libnet-vnc-perl) writes a lossless PNG; vncsnapshot a JPEG; Debian's noVNC page in headless
Chromium connects to the same port over WebSocket and is screenshotted (novnc=at:X,Y is where the frame lies on the
page, novnc_far the share of its pixels off by more than 40). Files stay in WORK/vnc/.
Usage: host-vnc-check.py WORK"""
import io
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "console"))
import novnc_page  # noqa: E402

work = Path(sys.argv[1])
inp, out = sys.stdin.buffer, sys.stdout.buffer


def reply(text: str) -> None:
    out.write(text.encode() + b"\n")
    out.flush()
    # stderr is the connection too (libslirp's spawn): the log is a file.
    with (work / "host-vnc-check.log").open("a") as log:
        log.write(f"{time.strftime('%H:%M:%S')} {text}\n")


def host_port(guest_port: int) -> int:
    """The host end of the forward to dom0's guest_port (the runner writes it once QEMU listens)."""
    for _ in range(100):
        try:
            return int(json.loads((work / "lab-net.json").read_text())["hostfwd"][str(guest_port)])
        except (OSError, ValueError, KeyError):
            time.sleep(0.1)
    raise RuntimeError(f"no host port for guest port {guest_port} in {work / 'lab-net.json'}")


def vnc_type(tag: str, guest_port: int, text: str) -> None:
    try:
        subprocess.run(["perl", "-MNet::VNC", "-e", "1"], check=True, capture_output=True, timeout=30)
    except (OSError, subprocess.CalledProcessError):
        reply("unavailable=libnet-vnc-perl")
        return
    # The console turns the moves into relative motion for a PS/2 mouse: +200,+150 then -50,-50.
    keys = ["$v->mouse_move_to(100, 100)", "$v->mouse_move_to(300, 250)", "$v->mouse_click",
            "$v->mouse_move_to(250, 200)", "$v->mouse_right_click"]
    for c in text:
        if c.isupper():
            keys += ["$v->send_key_event_down(0xffe1)", f"$v->send_key_event(ord('{c}'))", "$v->send_key_event_up(0xffe1)"]
        else:
            keys.append(f"$v->send_key_event(ord('{c}'))")
    keys.append("$v->send_key_event(0xff0d)")
    port = host_port(guest_port)
    script = (f"use Net::VNC; my $v = Net::VNC->new({{hostname => '127.0.0.1', port => {port}}}); $v->depth(24); "
              f"$v->login; {'; '.join(keys)}; sleep 1;")
    t0 = time.monotonic()
    p = subprocess.run(["perl", "-e", script], capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        reply(f"error=net-vnc-exit-{p.returncode}:{p.stderr.strip()[-80:]!r}".replace(" ", "_"))
        return
    reply(f"typed={text} pointer=100,100:300,250:left:250,200:right client_s={time.monotonic() - t0:.2f}")


def main() -> None:
    header = inp.readline(200).decode("ascii", "replace").strip()
    if m := re.fullmatch(r"vnc-type ([A-Za-z0-9_.-]{1,40}) ([0-9]{1,5}) ([A-Za-z0-9]{1,32})", header):
        vnc_type(m.group(1), int(m.group(2)), m.group(3))
        return
    m = re.fullmatch(r"vnc-check ([A-Za-z0-9_.-]{1,40}) ([0-9]{1,5}) ([0-9]{1,9})", header)
    if not m:
        reply(f"error=bad-request:{header[:60]!r}")
        return
    tag, guest_port, size = m.group(1), int(m.group(2)), int(m.group(3))
    png = inp.read(size)
    if len(png) != size:
        reply(f"error=short-screenshot:{len(png)}/{size}")
        return
    try:
        from PIL import Image, ImageChops
    except ImportError:
        reply("unavailable=python3-pil")
        return
    for tool in ("vnccapture", "vncsnapshot"):
        if shutil.which(tool) is None:
            reply(f"unavailable={tool}")
            return
    d = work / "vnc"
    d.mkdir(exist_ok=True)
    (d / f"{tag}-screenshot.png").write_bytes(png)
    shot = Image.open(io.BytesIO(png)).convert("RGB")
    port = host_port(guest_port)

    t0 = time.monotonic()
    cap_path = d / f"{tag}-vnccapture.png"
    p = subprocess.run(["vnccapture", "-H", "127.0.0.1", "-p", str(port), "-o", str(cap_path)],
                       capture_output=True, text=True, timeout=120)
    capture_s = time.monotonic() - t0
    if p.returncode != 0 or not cap_path.exists():
        reply(f"error=vnccapture-exit-{p.returncode}:{(p.stderr or p.stdout).strip()[:80]!r}")
        return
    cap = Image.open(cap_path).convert("RGB")
    differing = -1
    if cap.size == shot.size:
        # A pixel differs when any channel does: the per-pixel maximum of the channels' differences is non-zero.
        r, g, b = ImageChops.difference(cap, shot).split()
        differing = sum(ImageChops.lighter(ImageChops.lighter(r, g), b).histogram()[1:])

    t0 = time.monotonic()
    snap_path = d / f"{tag}-vncsnapshot.jpg"
    # HOST::PORT is a raw port (HOST:N would be display N).
    p = subprocess.run(["vncsnapshot", "-quiet", "-allowblank", f"127.0.0.1::{port}", str(snap_path)],
                       capture_output=True, text=True, timeout=120)
    snapshot_s = time.monotonic() - t0
    if p.returncode != 0 or not snap_path.exists():
        reply(f"error=vncsnapshot-exit-{p.returncode}:{p.stderr.strip()[:80]!r}")
        return
    snap = Image.open(snap_path).convert("RGB")
    mean = -1.0
    if snap.size == shot.size:
        # Mean |difference| over every channel of every pixel, from the difference image's histogram (256 per band).
        hist = ImageChops.difference(snap, shot).histogram()
        mean = sum((i % 256) * n for i, n in enumerate(hist)) / (3 * shot.size[0] * shot.size[1])
    colors = len(shot.getcolors(1 << 24) or [])
    reply(f"shot={shot.size[0]}x{shot.size[1]} capture={cap.size[0]}x{cap.size[1]} capture_differing={differing} "
          f"snapshot={snap.size[0]}x{snap.size[1]} snapshot_mean_abs={mean:.2f} colors={colors} "
          f"capture_s={capture_s:.2f} snapshot_s={snapshot_s:.2f} {novnc_values(tag, port, shot, d)}")


def novnc_values(tag: str, port: int, shot, d: Path) -> str:
    missing = novnc_page.available()
    if missing:
        return f"novnc=unavailable:{missing}"
    found, attempts, seconds = novnc_page.shows("127.0.0.1", port, shot, str(d), f"{tag}-novnc")
    if found is None:
        return f"novnc=none novnc_attempts={attempts} novnc_s={seconds:.2f}"
    return (f"novnc=at:{found[0]},{found[1]} novnc_mean_abs={found[2]:.2f} novnc_far={found[3]:.5f} "
            f"novnc_attempts={attempts} novnc_s={seconds:.2f}")


try:
    main()
except Exception as e:  # noqa: BLE001 - every failure goes back to dom0 as a value
    reply(f"error={type(e).__name__}:{str(e)[:80]!r}".replace(" ", "_"))
