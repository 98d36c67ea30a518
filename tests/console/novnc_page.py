"""noVNC (Debian's package, served over HTTP on loopback) in headless Chromium against a console's WebSocket,
and where a known frame lies on the page. Shared by the xensim console test and the real-Xen lab's host side."""
import http.server
import os
import shutil
import subprocess
import tempfile
import threading
import time

NOVNC_DIR = "/usr/share/novnc"


def available():
    """None when Chromium and noVNC are installed, else the missing one's name."""
    if shutil.which("chromium") is None:
        return "chromium"
    if not os.path.exists(os.path.join(NOVNC_DIR, "vnc_lite.html")):
        return "novnc"
    return None


class _PageServer(http.server.SimpleHTTPRequestHandler):
    """Debian's noVNC files, with vnc_lite.html carrying one image the server holds back `hold` seconds: Chromium's
    virtual time (--virtual-time-budget) does not run while a fetch is pending, so the page gets that much real
    time for the console's first frame to arrive over the WebSocket, which virtual time would not wait for."""
    hold = 5.0

    def __init__(self, *args, **kwargs):
        super().__init__(*args, directory=NOVNC_DIR, **kwargs)

    def do_GET(self):  # noqa: N802 - http.server's name
        path = self.path.split("?", 1)[0]
        if path == "/xvgpu-hold.gif":
            time.sleep(self.hold)
            self._send(b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "image/gif")
        elif path == "/vnc_lite.html":
            with open(os.path.join(NOVNC_DIR, "vnc_lite.html"), "rb") as f:
                page = f.read()
            page = page.replace(b"</body>", b'<img src="/xvgpu-hold.gif" style="display:none"></body>', 1)
            self._send(page, "text/html")
        else:
            super().do_GET()

    def _send(self, body, kind):
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def page_image(host, port, out, tmpdir, hold=5.0):
    """Chromium's screenshot of vnc_lite.html connected to HOST:PORT after HOLD seconds of real time, written to OUT
    and returned as RGB."""
    from PIL import Image  # the callers skip their checks without python3-pil
    handler = type("PageServer", (_PageServer,), {"hold": hold})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        profile = tempfile.mkdtemp(prefix="chromium.", dir=tmpdir)
        url = "http://127.0.0.1:%d/vnc_lite.html?host=%s&port=%s" % (server.server_address[1], host, port)
        p = subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                            "--no-first-run", "--disable-background-networking", "--disable-component-update",
                            "--disable-sync", "--user-data-dir=" + profile, "--hide-scrollbars",
                            "--force-device-scale-factor=1", "--window-size=1280,1000",
                            "--virtual-time-budget=3000", "--screenshot=" + str(out), url],
                           capture_output=True, text=True, timeout=120)
        shutil.rmtree(profile, ignore_errors=True)
        if not os.path.exists(out):
            raise RuntimeError("chromium wrote no screenshot: %s" % p.stderr[-500:])
        return Image.open(out).convert("RGB")
    finally:
        server.shutdown()
        server.server_close()


def find_frame(page, frame, background):
    """Where `frame` lies in `page` (the bounding box of what is not `background` below noVNC's status bar) and how
    far it is from it: (x, y, mean |d| over every channel, share of pixels off by more than 40 in a channel), or None
    when no box of frame's size is there."""
    pw, ph = page.size
    fw, fh = frame.size
    pb = page.load()
    xs, ys = [], []
    for y in range(40, ph):
        for x in range(pw):
            if pb[x, y] != background:
                xs.append(x)
                ys.append(y)
                break
    if not xs:
        return None
    x0, y0 = min(xs), min(ys)
    if x0 + fw > pw or y0 + fh > ph:
        return None
    fb = frame.load()
    total = 0
    far = 0
    for y in range(fh):
        for x in range(fw):
            a, b = pb[x0 + x, y0 + y], fb[x, y]
            d = [abs(a[i] - b[i]) for i in range(3)]
            total += sum(d)
            far += max(d) > 40
    return x0, y0, total / (fw * fh * 3), far / (fw * fh)


def matches(found):
    """noVNC asks for Tight encoding with JPEG quality 6: the page matches the frame within JPEG error (the bound the
    lab gives vncsnapshot's JPEG: mean |d| < 6), and under 0.1% of its pixels are off by more than 40."""
    return found is not None and found[2] < 6 and found[3] < 0.001


def shows(host, port, frame, tmpdir, prefix, attempts=3):
    """Loads the page up to ATTEMPTS times (it connects asynchronously, so a first shot may be early) until it shows
    FRAME. Returns (find_frame's result of the last attempt, attempts used, seconds)."""
    t0 = time.monotonic()
    found = None
    for attempt in range(1, attempts + 1):
        page = page_image(host, port, os.path.join(tmpdir, "%s-%d.png" % (prefix, attempt)), tmpdir)
        found = find_frame(page, frame, page.getpixel((5, page.size[1] - 5)))
        if matches(found):
            return found, attempt, time.monotonic() - t0
    return found, attempts, time.monotonic() - t0
