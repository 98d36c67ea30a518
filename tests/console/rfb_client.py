"""A minimal RFB 3.8 client for the console tests (no authentication, raw encoding): connects
over TCP or a UNIX socket, reads the whole framebuffer, follows desktop-size changes. Also the
building blocks of the hostile-client tests."""
import socket
import struct


def connect(where, timeout=10.0):
    """where: 'HOST:PORT' or 'unix:PATH'."""
    if where.startswith("unix:"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(where[5:])
        return s
    host, port = where.rsplit(":", 1)
    s = socket.create_connection((host.strip("[]"), int(port)), timeout=timeout)
    return s


def recv_exact(s, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("server closed the connection after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return bytes(buf)


class Client:
    DESKTOP_SIZE = -223

    def __init__(self, where, timeout=10.0):
        self.s = connect(where, timeout)
        version = recv_exact(self.s, 12)
        if not version.startswith(b"RFB 003."):
            raise ValueError("not an RFB server: %r" % version)
        self.s.sendall(b"RFB 003.008\n")
        (n,) = struct.unpack("B", recv_exact(self.s, 1))
        if n == 0:
            (ln,) = struct.unpack(">I", recv_exact(self.s, 4))
            raise ConnectionRefusedError(recv_exact(self.s, ln).decode(errors="replace"))
        self.security_types = list(recv_exact(self.s, n))
        if 1 not in self.security_types:
            raise PermissionError("server requires authentication: types %s" % self.security_types)
        self.s.sendall(b"\x01")
        (result,) = struct.unpack(">I", recv_exact(self.s, 4))
        if result != 0:
            raise PermissionError("security result %d" % result)
        self.s.sendall(b"\x01")  # shared
        w, h = struct.unpack(">HH", recv_exact(self.s, 4))
        recv_exact(self.s, 16)  # the server's pixel format: replaced below
        (ln,) = struct.unpack(">I", recv_exact(self.s, 4))
        self.name = recv_exact(self.s, ln)
        self.width, self.height = w, h
        # 32 bpp, depth 24, little endian, true colour, R at bit 16, G at 8, B at 0.
        self.s.sendall(struct.pack(">BxxxBBBBHHHBBBxxx", 0, 32, 24, 0, 1, 255, 255, 255, 16, 8, 0))
        self.s.sendall(struct.pack(">BxH", 2, 2) + struct.pack(">ii", 0, self.DESKTOP_SIZE))
        self.pixels = bytearray(w * h * 4)

    def request(self, incremental=False):
        self.s.sendall(struct.pack(">BBHHHH", 3, 1 if incremental else 0, 0, 0, self.width, self.height))

    def read_update(self):
        """Reads one FramebufferUpdate (skipping other server messages); returns its rectangles."""
        while True:
            (kind,) = struct.unpack("B", recv_exact(self.s, 1))
            if kind == 0:
                break
            if kind == 2:  # bell
                continue
            if kind == 3:  # cut text
                recv_exact(self.s, 3)
                (ln,) = struct.unpack(">I", recv_exact(self.s, 4))
                recv_exact(self.s, ln)
                continue
            raise ValueError("unexpected server message %d" % kind)
        recv_exact(self.s, 1)
        (n,) = struct.unpack(">H", recv_exact(self.s, 2))
        rects = []
        for _ in range(n):
            x, y, w, h, enc = struct.unpack(">HHHHi", recv_exact(self.s, 12))
            if enc == self.DESKTOP_SIZE:
                self.width, self.height = w, h
                self.pixels = bytearray(w * h * 4)
            elif enc == 0:
                data = recv_exact(self.s, w * h * 4)
                for row in range(h):
                    o = ((y + row) * self.width + x) * 4
                    self.pixels[o:o + w * 4] = data[row * w * 4:(row + 1) * w * 4]
            else:
                raise ValueError("unexpected encoding %d" % enc)
            rects.append((x, y, w, h, enc))
        return rects

    def frame(self):
        """A complete frame: asks for the whole screen and reads updates (earlier incremental ones
        may come first, a desktop-size change may come between) until one covers all of it."""
        self.request()
        for _ in range(100):
            rects = self.read_update()
            if any(r[4] == self.DESKTOP_SIZE for r in rects):
                self.request()
                continue
            if sum(r[2] * r[3] for r in rects if r[4] == 0) >= self.width * self.height:
                return self.rgb()
        raise ValueError("no complete frame in 100 updates")

    def rgb(self):
        """(width, height, bytes R G B per pixel)."""
        out = bytearray(self.width * self.height * 3)
        p = self.pixels
        out[0::3] = p[2::4]
        out[1::3] = p[1::4]
        out[2::3] = p[0::4]
        return self.width, self.height, bytes(out)

    def close(self):
        self.s.close()
