"""r2kwire: a small r2k frame codec and build driver for tests (docs/protocol.md)."""
import hashlib
import io
import json
import os
import socket
import struct
import subprocess
import tarfile
import tempfile
import time

MAGIC = b"\x89R2K\r\n\x1a\n"
ERROR, KEEPALIVE = 0x0001, 0x0002
REQUEST, CONTEXT, CONTEXT_END, CANCEL = 0x0101, 0x0102, 0x0103, 0x0104
CHECK, STDOUT, STDERR, LOG, EXIT = 0x0201, 0x0202, 0x0203, 0x0204, 0x0205


def preamble(version=1):
    return MAGIC + struct.pack(">HH", version, 0)


def frame(ftype, payload=b""):
    return struct.pack(">HHI", ftype, 0, len(payload)) + payload


def context_end(data):
    return frame(CONTEXT_END, struct.pack(">Q", len(data)) + hashlib.sha256(data).digest())


def request(**fields):
    return frame(REQUEST, json.dumps(fields).encode())


def make_tar(files, gz=False):
    """files: list of (name, bytes or None for a directory, mode)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz" if gz else "w", format=tarfile.PAX_FORMAT) as t:
        for name, data, mode in files:
            ti = tarfile.TarInfo(name)
            ti.mode = mode
            ti.mtime = 1700000000
            if data is None:
                ti.type = tarfile.DIRTYPE
                t.addfile(ti)
            else:
                ti.size = len(data)
                t.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


class Result:
    def __init__(self):
        self.preamble = None
        self.stdout = bytearray()
        self.stderr = bytearray()
        self.logs = []
        self.checks = []
        self.error = None  # (code, message)
        self.exit = None  # (how, value, digest)
        self.frames = []  # types in order
        self.closed = False


def connect(addr, timeout=120):
    if addr.startswith("unix://"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(addr[len("unix://"):])
    else:
        host, port = addr[len("tcp://"):].rsplit(":", 1)
        s = socket.create_connection((host.strip("[]"), int(port)), timeout=timeout)
    return s


def recv_exact(s, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError("connection closed after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return bytes(buf)


def read_frame(s):
    hdr = recv_exact(s, 8)
    ftype, _flags, length = struct.unpack(">HHI", hdr)
    return ftype, recv_exact(s, length)


def read_result(s, res=None):
    """Read the runner's preamble and frames until EXIT or ERROR (or close)."""
    res = res or Result()
    try:
        if res.preamble is None:
            res.preamble = recv_exact(s, 12)
        while True:
            ftype, payload = read_frame(s)
            res.frames.append(ftype)
            if ftype == STDOUT:
                res.stdout += payload
            elif ftype == STDERR:
                res.stderr += payload
            elif ftype == LOG:
                res.logs.append((payload[0], payload[1:].decode(errors="replace")))
            elif ftype == CHECK:
                res.checks.append(json.loads(payload))
            elif ftype == ERROR:
                res.error = (struct.unpack(">H", payload[:2])[0], payload[2:].decode(errors="replace"))
                break
            elif ftype == EXIT:
                how, value = payload[0], struct.unpack(">i", payload[4:8])[0]
                res.exit = (how, value, payload[8:].decode())
                break
    except (EOFError, ConnectionResetError):
        res.closed = True
    return res


def build(addr, req, data, chunk=256 * 1024, timeout=300):
    """Send one build (request dict, context bytes) and return its Result."""
    s = connect(addr, timeout)
    try:
        s.sendall(preamble() + request(**req))
        for i in range(0, len(data), chunk):
            s.sendall(frame(CONTEXT, data[i:i + chunk]))
        s.sendall(context_end(data))
        return read_result(s)
    finally:
        s.close()


def wait_closed(s, timeout=60):
    """Read until the peer closes; returns the bytes read."""
    s.settimeout(timeout)
    out = bytearray()
    while True:
        try:
            b = s.recv(65536)
        except ConnectionResetError:
            break
        if not b:
            break
        out += b
    return bytes(out)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Runner:
    """An r2k runner on a free loopback port; stop() ends it and returns its status."""

    def __init__(self, *args, env=None):
        self.port = free_port()
        self.addr = "tcp://127.0.0.1:%d" % self.port
        cmd = [os.environ["R2K_BIN"], "runner", "--listen", self.addr, "-v"] + list(args)
        e = dict(os.environ)
        e.update(env or {})
        self.logfile = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(cmd, stderr=self.logfile, env=e)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError("runner exited: %s" % self.log())
                time.sleep(0.05)
        raise RuntimeError("runner did not start listening")

    def log(self):
        self.logfile.seek(0)
        return self.logfile.read().decode(errors="replace")

    def wait(self, timeout=120):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
        return self.wait()
