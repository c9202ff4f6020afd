"""fakerunner: a small scripted r2k runner for client tests.

It speaks the framed protocol of docs/protocol.md on a loopback TCP port or a
unix socket, records what the client sends (request, context stream, CANCEL)
and answers with whatever frames a test scripts -- including answers a real
runner never gives (bad magic, another version, a connection closed mid-build).

Typical use::

    from fakerunner import FakeRunner, scripted, STDOUT

    with FakeRunner(scripted(("stdout", b"hi\\n"), ("exit", 3))) as fr:
        proc = subprocess.run([r2k, "client", "--runner", fr.address, "-c", ctx])
    conn = fr.conns[0]
    conn.request            # the decoded REQUEST JSON
    conn.members            # what the context tar held (see Member)
    conn.context_ok         # CONTEXT_END matched the bytes received

Only the Python standard library is used.
"""

import hashlib
import io
import json
import os
import socket
import struct
import tarfile
import threading
import time

MAGIC = b"\x89R2K\r\n\x1a\n"
VERSION = 1

# Frame types (src/proto.h).
ERROR = 0x0001
KEEPALIVE = 0x0002
REQUEST = 0x0101
CONTEXT = 0x0102
CONTEXT_END = 0x0103
CANCEL = 0x0104
CHECK = 0x0201
STDOUT = 0x0202
STDERR = 0x0203
LOG = 0x0204
EXIT = 0x0205

NAMES = {ERROR: "ERROR", KEEPALIVE: "KEEPALIVE", REQUEST: "REQUEST", CONTEXT: "CONTEXT",
         CONTEXT_END: "CONTEXT_END", CANCEL: "CANCEL", CHECK: "CHECK", STDOUT: "STDOUT",
         STDERR: "STDERR", LOG: "LOG", EXIT: "EXIT"}

MAX_PAYLOAD = 1 << 20


class ProtocolError(Exception):
    """The client sent something the protocol does not allow."""


# ---------------------------------------------------------------- encoding

def encode_preamble(version=VERSION, magic=MAGIC):
    """The 12-byte preamble: magic, u16 version, u16 reserved."""
    return magic + struct.pack(">HH", version, 0)


def encode_frame(ftype, payload=b""):
    """One frame: u16 type, u16 flags (0), u32 length, payload."""
    return struct.pack(">HHI", ftype, 0, len(payload)) + payload


def encode_exit(code=0, signal=None, digest=""):
    """EXIT payload: how (0 code, 1 signal), 3 reserved bytes, i32 value, digest."""
    how, value = (1, signal) if signal is not None else (0, code)
    return struct.pack(">B3xi", how, value) + digest.encode()


def encode_error(code, message):
    """ERROR payload: u16 code, then the message."""
    if isinstance(message, str):
        message = message.encode()
    return struct.pack(">H", code) + message


def encode_log(level, message):
    """LOG payload: u8 level (0 error .. 3 debug), then one line."""
    if isinstance(message, str):
        message = message.encode()
    return struct.pack(">B", level) + message


def encode_context_end(total, sha256):
    """CONTEXT_END payload: u64 total bytes, 32 bytes SHA-256."""
    return struct.pack(">Q", total) + sha256


def decode_context_end(payload):
    """(total, sha256 bytes) from a CONTEXT_END payload."""
    if len(payload) != 40:
        raise ProtocolError("CONTEXT_END of %d bytes" % len(payload))
    return struct.unpack(">Q", payload[:8])[0], payload[8:]


class Decoder:
    """Incremental frame decoder: feed bytes, get (type, payload) tuples back."""

    def __init__(self, preamble=True):
        self.buf = bytearray()
        self.want_preamble = preamble
        self.version = None

    def feed(self, data):
        """Consume data; returns the complete frames found so far."""
        self.buf += data
        out = []
        if self.want_preamble:
            if len(self.buf) < 12:
                if not MAGIC.startswith(bytes(self.buf[:8])):
                    raise ProtocolError("bad magic")
                return out
            if bytes(self.buf[:8]) != MAGIC:
                raise ProtocolError("bad magic")
            self.version = struct.unpack(">H", self.buf[8:10])[0]
            del self.buf[:12]
            self.want_preamble = False
        off = 0
        while len(self.buf) - off >= 8:
            ftype, _flags, length = struct.unpack_from(">HHI", self.buf, off)
            if length > MAX_PAYLOAD:
                raise ProtocolError("frame of %d bytes" % length)
            if len(self.buf) - off < 8 + length:
                break
            out.append((ftype, bytes(self.buf[off + 8:off + 8 + length])))
            off += 8 + length
        del self.buf[:off]
        return out


# ---------------------------------------------------------------- one connection

class Member:
    """One entry of the received context tar."""

    def __init__(self, info, data_sha256=None, data=None):
        self.name = info.name.encode("utf-8", "surrogateescape")  # raw bytes
        self.type = info.type           # tarfile.REGTYPE, DIRTYPE, SYMTYPE, ...
        self.size = info.size
        self.mode = info.mode
        self.linkname = info.linkname.encode("utf-8", "surrogateescape")
        self.uid = info.uid
        self.sha256 = data_sha256       # hex digest of the content (regular files)
        self.data = data                # content when at most 1 MiB

    def isdir(self):
        return self.type == tarfile.DIRTYPE

    def issym(self):
        return self.type == tarfile.SYMTYPE

    def isreg(self):
        return self.type in (tarfile.REGTYPE, tarfile.AREGTYPE)

    def __repr__(self):
        return "Member(%r, type=%r, size=%d, mode=%o)" % (self.name, self.type, self.size,
                                                         self.mode)


class ContextReader(io.RawIOBase):
    """File object over the CONTEXT frames of a connection, ending at CONTEXT_END."""

    def __init__(self, conn):
        super().__init__()
        self.conn = conn
        self.pending = b""
        self.eof = False

    def readable(self):
        return True

    def readinto(self, b):
        while not self.pending and not self.eof:
            self.conn._next_context_chunk(self)
        n = min(len(b), len(self.pending))
        b[:n] = self.pending[:n]
        self.pending = self.pending[n:]
        return n

    def drain(self):
        """Read and discard the rest of the stream up to CONTEXT_END."""
        while not self.eof:
            self.pending = b""
            self.conn._next_context_chunk(self)
        self.pending = b""


class Connection:
    """The runner side of one client connection, with a record of what arrived."""

    def __init__(self, sock):
        self.sock = sock
        self.sock.settimeout(120)
        self.dec = Decoder(preamble=True)
        self.queue = []
        self.version = None
        self.request = None
        self.frames = []            # types received, in order (CONTEXT collapsed)
        self.context_bytes = 0
        self.context_sha = hashlib.sha256()
        self.context_end = None     # (total, sha256) from CONTEXT_END
        self.context_ok = None      # CONTEXT_END matched what arrived
        self.context_raw = None     # the raw stream when kept
        self.keep_raw = False
        self.members = []
        self.tar_error = None
        self.cancelled = False      # a CANCEL frame arrived
        self.eof = False

    # -- reading
    def read_frame(self, timeout=120):
        """Next (type, payload), or None when the client closed the connection."""
        self.sock.settimeout(timeout)
        while not self.queue:
            try:
                data = self.sock.recv(1 << 18)
            except ConnectionResetError:
                data = b""
            if not data:
                self.eof = True
                return None
            self.queue.extend(self.dec.feed(data))
            if self.version is None and self.dec.version is not None:
                self.version = self.dec.version
        ftype, payload = self.queue.pop(0)
        if ftype != CONTEXT or not self.frames or self.frames[-1] != CONTEXT:
            self.frames.append(ftype)
        if ftype == CANCEL:
            self.cancelled = True
        return ftype, payload

    def read_request(self):
        """Read the preamble and the REQUEST frame; returns the request dict."""
        f = self.read_frame()
        if f is None or f[0] != REQUEST:
            raise ProtocolError("first frame is %r, not REQUEST" % (f and NAMES.get(f[0])))
        self.request = json.loads(f[1])
        return self.request

    def _next_context_chunk(self, reader):
        f = self.read_frame()
        while f is not None and f[0] == KEEPALIVE:
            f = self.read_frame()
        if f is None:
            raise ProtocolError("connection closed inside the context stream")
        ftype, payload = f
        if ftype == CONTEXT:
            self.context_bytes += len(payload)
            self.context_sha.update(payload)
            if self.keep_raw:
                self.context_raw.extend(payload)
            reader.pending = payload
        elif ftype == CONTEXT_END:
            self.context_end = decode_context_end(payload)
            self.context_ok = (self.context_end[0] == self.context_bytes and
                               self.context_end[1] == self.context_sha.digest())
            reader.eof = True
        elif ftype == CANCEL:
            raise ProtocolError("cancelled during the context stream")
        else:
            raise ProtocolError("%s frame inside the context stream" % NAMES.get(ftype, ftype))

    def read_context(self, inspect=True, keep_raw=False):
        """Consume the context up to CONTEXT_END; with inspect, list its tar members."""
        self.keep_raw = keep_raw
        if keep_raw:
            self.context_raw = bytearray()
        reader = ContextReader(self)
        if inspect:
            try:
                with tarfile.open(fileobj=io.BufferedReader(reader, 1 << 16), mode="r|*") as tf:
                    for info in tf:
                        sha = data = None
                        if info.isreg():
                            f = tf.extractfile(info)
                            h = hashlib.sha256()
                            small = info.size <= (1 << 20)
                            chunks = []
                            while True:
                                chunk = f.read(1 << 20)
                                if not chunk:
                                    break
                                h.update(chunk)
                                if small:
                                    chunks.append(chunk)
                            sha = h.hexdigest()
                            data = b"".join(chunks) if small else None
                        self.members.append(Member(info, sha, data))
            except (tarfile.TarError, EOFError, OSError) as e:
                self.tar_error = str(e)
        reader.drain()
        return self.members

    def member(self, name):
        """The member whose raw name is name (bytes or str; a trailing '/' is ignored)."""
        if isinstance(name, str):
            name = name.encode("utf-8", "surrogateescape")
        for m in self.members:
            if m.name.rstrip(b"/") == name.rstrip(b"/"):
                return m
        return None

    def wait_for(self, ftype, timeout=60):
        """Read frames until one of type ftype arrives; True if it did."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            try:
                f = self.read_frame(timeout=left)
            except socket.timeout:
                return False
            if f is None:
                return False
            if f[0] == ftype:
                return True

    # -- writing
    def send_raw(self, data):
        self.sock.sendall(data)

    def send_preamble(self, version=VERSION):
        self.send_raw(encode_preamble(version))

    def send(self, ftype, payload=b""):
        self.send_raw(encode_frame(ftype, payload))

    def send_stdout(self, data):
        self.send(STDOUT, data)

    def send_stderr(self, data):
        self.send(STDERR, data)

    def send_log(self, level, message):
        self.send(LOG, encode_log(level, message))

    def send_check(self, result):
        self.send(CHECK, json.dumps(result).encode())

    def send_exit(self, code=0, signal=None, digest=""):
        self.send(EXIT, encode_exit(code, signal, digest))

    def send_error(self, code, message):
        self.send(ERROR, encode_error(code, message))

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        # Lingering close: let the client read everything before the socket goes.
        self.sock.settimeout(10)
        try:
            while self.sock.recv(1 << 16):
                pass
        except OSError:
            pass
        self.sock.close()


# ---------------------------------------------------------------- the server

class FakeRunner:
    """A listening socket whose connections are served by handler(conn) in a thread.

    address is what to pass to `r2k client --runner`. Exceptions raised by the
    handler are kept in errors and raised again by stop() (or leaving a with
    block), so a test fails when the client broke the protocol.
    """

    def __init__(self, handler, unix_path=None, ipv6=False, connections=1):
        self.handler = handler
        self.conns = []
        self.errors = []
        self.connections = connections
        if unix_path:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.bind(unix_path)
            self.address = "unix://" + unix_path
            self.unix_path = unix_path
        else:
            fam = socket.AF_INET6 if ipv6 else socket.AF_INET
            self.sock = socket.socket(fam, socket.SOCK_STREAM)
            self.sock.bind(("::1" if ipv6 else "127.0.0.1", 0))
            port = self.sock.getsockname()[1]
            self.address = ("tcp://[::1]:%d" if ipv6 else "tcp://127.0.0.1:%d") % port
            self.unix_path = None
        self.sock.listen(8)
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def _serve(self):
        self.sock.settimeout(120)
        for _ in range(self.connections):
            try:
                s, _ = self.sock.accept()
            except OSError as e:
                self.errors.append(e)
                return
            conn = Connection(s)
            self.conns.append(conn)
            try:
                self.handler(conn)
            except Exception as e:  # recorded for the test
                self.errors.append(e)
            finally:
                try:
                    s.close()
                except OSError:
                    pass

    def wait(self, timeout=120):
        """Wait until the handler is done."""
        self.thread.join(timeout)
        return not self.thread.is_alive()

    def stop(self, check=True):
        self.wait(30)
        self.sock.close()
        if self.unix_path and os.path.exists(self.unix_path):
            os.unlink(self.unix_path)
        if check and self.errors:
            raise self.errors[0]

    def __enter__(self):
        return self.start()

    def __exit__(self, et, ev, tb):
        self.stop(check=et is None)


def run_actions(conn, actions):
    """Carry out scripted answers:

    ("stdout", bytes) ("stderr", bytes) ("log", level, text) ("check", dict)
    ("exit", code) ("exit", code, digest) ("signal", n) ("error", code, text)
    ("raw", bytes) ("sleep", seconds) ("wait_cancel",) ("close",)
    """
    for a in actions:
        kind = a[0]
        if kind == "stdout":
            conn.send_stdout(a[1])
        elif kind == "stderr":
            conn.send_stderr(a[1])
        elif kind == "log":
            conn.send_log(a[1], a[2])
        elif kind == "check":
            conn.send_check(a[1])
        elif kind == "exit":
            conn.send_exit(a[1], digest=a[2] if len(a) > 2 else "")
        elif kind == "signal":
            conn.send_exit(signal=a[1])
        elif kind == "error":
            conn.send_error(a[1], a[2])
        elif kind == "raw":
            conn.send_raw(a[1])
        elif kind == "sleep":
            time.sleep(a[1])
        elif kind == "wait_cancel":
            if not conn.cancelled:
                conn.wait_for(CANCEL)
        elif kind == "close":
            conn.close()
            return
        else:
            raise ValueError("unknown action %r" % (kind,))
    conn.close()


def scripted(*actions, inspect=True, keep_raw=False, before_context=()):
    """A handler that reads the request and the whole context, then runs actions.

    before_context actions run right after the preamble is answered (for
    answers in the middle of the upload); if they end the connection the
    context is not read.
    """
    def handler(conn):
        conn.read_request()
        conn.send_preamble()
        if before_context:
            run_actions(conn, before_context)
            return
        conn.read_context(inspect=inspect, keep_raw=keep_raw)
        run_actions(conn, actions)
    return handler
