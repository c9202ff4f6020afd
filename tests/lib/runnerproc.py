"""Start an r2k runner for a test and talk to it over raw sockets (HTTP, legacy JSON line)."""
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time

R2K = os.environ.get("R2K_BIN", "r2k")


class Runner:
    """One `r2k runner` process; its stderr is collected in the background."""

    def __init__(self, *args, env=None, listen=True, wrap=None, wait_listening=True):
        cmd = [R2K, "runner"]
        if listen:
            cmd += ["--listen", "tcp://127.0.0.1:0"]
        cmd += list(args)
        if wrap:
            cmd = list(wrap) + cmd
        full_env = dict(os.environ)
        if env:
            full_env.update(env)
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, env=full_env)
        self.lines = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.addr = None
        if listen and wait_listening:
            line = self.wait_log(r"listening on tcp://", timeout=30)
            m = re.search(r"tcp://([0-9.]+):(\d+)", line)
            self.addr = (m.group(1), int(m.group(2)))

    def _read(self):
        for raw in self.proc.stderr:
            with self._cond:
                self.lines.append(raw.decode(errors="replace").rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self.lines.append(None)
            self._cond.notify_all()

    @property
    def log(self):
        with self._cond:
            return "\n".join(l for l in self.lines if l is not None)

    def wait_log(self, pattern, timeout=30, start=0):
        """Wait for a log line matching pattern; returns it."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        i = start
        with self._cond:
            while True:
                while i < len(self.lines):
                    if self.lines[i] is None:
                        raise AssertionError(f"runner exited before logging {pattern!r}:\n"
                                             + self.log)
                    if rx.search(self.lines[i]):
                        return self.lines[i]
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no log line {pattern!r} in {timeout}s:\n" + self.log)
                self._cond.wait(left)

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout=60):
        rc = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=10)
        return rc

    def stop(self, timeout=60):
        """End the runner (SIGINT) if it still runs; fail on any sanitizer report."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            rc = self.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.wait(timeout)
        for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
            assert marker not in self.log, "sanitizer report:\n" + self.log
        return rc

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def connect(addr, timeout=30):
    if isinstance(addr, str):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(addr)
        return s
    s = socket.create_connection(addr, timeout=timeout)
    return s


def read_all(s):
    out = b""
    while True:
        c = s.recv(65536)
        if not c:
            return out
        out += c


class HTTPResponse:
    def __init__(self, status, reason, headers, body):
        self.status, self.reason, self.headers, self.body = status, reason, headers, body

    def header(self, name):
        return self.headers.get(name.lower())


def read_response(s, buf=b"", head=False):
    """Read one HTTP/1.1 response framed by Content-Length; returns (response, leftover)."""
    while b"\r\n\r\n" not in buf:
        c = s.recv(65536)
        if not c:
            raise EOFError("connection closed before a response: %r" % buf)
        buf += c
    head_raw, buf = buf.split(b"\r\n\r\n", 1)
    lines = head_raw.decode("latin-1").split("\r\n")
    version, status, reason = lines[0].split(" ", 2)
    assert version == "HTTP/1.1", lines[0]
    headers = {}
    for l in lines[1:]:
        k, v = l.split(":", 1)
        headers[k.strip().lower()] = v.strip()
    n = 0 if head else int(headers["content-length"])
    while len(buf) < n:
        c = s.recv(65536)
        if not c:
            raise EOFError("connection closed inside a body")
        buf += c
    return HTTPResponse(int(status), reason, headers, buf[:n]), buf[n:]


def http_get(addr, path, method="GET", extra=""):
    """One request on a fresh connection with Connection: close."""
    s = connect(addr)
    try:
        s.sendall(f"{method} {path} HTTP/1.1\r\nHost: t\r\n{extra}Connection: close\r\n\r\n"
                  .encode())
        r, _ = read_response(s, head=(method == "HEAD"))
        return r
    finally:
        s.close()


def parse_prometheus(text):
    """Parse text format 0.0.4; returns {family: {"type": t, "help": h, "samples": [...]}}
    with samples as (name, labels dict, float value). Raises on malformed input."""
    fams = {}
    sample_rx = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})? (\S+)$')
    label_rx = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(,|$)')
    assert text.endswith("\n"), "exposition must end with a newline"
    for line in text.split("\n")[:-1]:
        if line.startswith("# HELP "):
            name, _, h = line[7:].partition(" ")
            fams.setdefault(name, {"type": None, "help": None, "samples": []})["help"] = h
            continue
        if line.startswith("# TYPE "):
            name, _, t = line[7:].partition(" ")
            assert t in ("counter", "gauge", "histogram", "summary", "untyped"), line
            f = fams.setdefault(name, {"type": None, "help": None, "samples": []})
            assert not f["samples"], "TYPE after samples: " + line
            f["type"] = t
            continue
        assert line and not line.startswith("#"), "unexpected line %r" % line
        m = sample_rx.match(line)
        assert m, "malformed sample %r" % line
        name, labels_raw, value = m.group(1), m.group(3) or "", float(m.group(4))
        labels = {}
        pos = 0
        while pos < len(labels_raw):
            lm = label_rx.match(labels_raw, pos)
            assert lm, "malformed labels %r" % line
            labels[lm.group(1)] = lm.group(2)
            pos = lm.end()
        fam = name
        for suffix in ("_bucket", "_sum", "_count"):
            if name.endswith(suffix) and name[: -len(suffix)] in fams and \
                    fams[name[: -len(suffix)]]["type"] == "histogram":
                fam = name[: -len(suffix)]
        assert fam in fams and fams[fam]["type"], "sample before its TYPE: %r" % line
        fams[fam]["samples"].append((name, labels, value))
    return fams


def metric(fams, name, **labels):
    """The value of one sample."""
    for fam in fams.values():
        for n, l, v in fam["samples"]:
            if n == name and l == labels:
                return v
    raise KeyError((name, labels))


def get_metrics(addr):
    r = http_get(addr, "/metrics")
    assert r.status == 200
    return parse_prometheus(r.body.decode())


class KanikoEngineClient:
    """The socket side of repo2kaniko's KanikoEngine, as it talks to kaniko-runner: the
    connection is opened when the engine is created (repo2docker creates one before
    fetching the repository, and more later), the JSON line is sent when build() runs,
    chunks of up to 1024000 bytes are read until the runner closes, and the build counts
    as successful only when the last chunk read is exactly 'status: SUCCESS\\n'."""

    def __init__(self, addr, timeout=120):
        self.s = connect(addr, timeout=timeout)

    def build(self, command, credentials=None, consume_delay=0):
        """Yield each chunk as read; consume_delay is the time spent on each chunk (as
        repo2docker logging it) before the next read. Raises RuntimeError on failure."""
        msg = {"command": command, "credentials": credentials if credentials is not None else []}
        self.s.sendall((json.dumps(msg) + "\n").encode())
        last_chunk = ""
        while True:
            chunk = self.s.recv(1024000)
            if not chunk:
                break
            last_chunk = chunk.decode(errors="replace")
            yield last_chunk
            if consume_delay:
                time.sleep(consume_delay)
        self.s.close()
        if last_chunk != "status: SUCCESS\n":
            raise RuntimeError(f"Kaniko build failed: {last_chunk}")

    def close(self):
        self.s.close()


def legacy_build(addr, command, credentials=None, consume_delay=0):
    """One build as repo2kaniko's engine makes it (KanikoEngineClient).
    Returns (output text, success)."""
    chunks = []
    try:
        for c in KanikoEngineClient(addr).build(command, credentials, consume_delay):
            chunks.append(c)
        ok = True
    except RuntimeError:
        ok = False
    return "".join(chunks), ok


def wait_for(pred, timeout=60, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


try:
    import pytest

    @pytest.fixture(autouse=True, scope="session")
    def remove_tmp_path(tmp_path_factory):
        """Import into a test module: the session's temporary directories go at the end."""
        yield
        import shutil
        base = tmp_path_factory.getbasetemp()
        shutil.rmtree(base, ignore_errors=True)
        current = base.parent / (base.name.rsplit("-", 1)[0] + "-current")
        if current.is_symlink() and os.readlink(current) == str(base):
            current.unlink()
except ImportError:  # used outside pytest
    pass
