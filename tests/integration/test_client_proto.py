"""r2k client: exit statuses, output relaying, --json, protocol failures, cancellation."""

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest

sys.path.insert(0, os.path.join(os.environ.get("R2K_SOURCE_DIR", "."), "tests", "lib"))
from clientrun import R2K, closed_port, peak_rss_kib, run_client  # noqa: E402
import fakerunner  # noqa: E402
from fakerunner import CANCEL, FakeRunner, encode_preamble, scripted  # noqa: E402


@pytest.fixture(scope="module")
def ctx():
    d = tempfile.mkdtemp(prefix="r2k-proto-")
    with open(os.path.join(d, "Dockerfile"), "w") as f:
        f.write("FROM scratch\n")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def run(ctx, handler, *extra, **kw):
    with FakeRunner(handler) as fr:
        p = run_client(["--runner", fr.address, "--context", ctx] + list(extra), **kw)
    return p, fr


def test_exit_code_and_streams_kept_apart(ctx):
    p, fr = run(ctx, scripted(("stdout", b"STEP 1/2\n"), ("stderr", b"warn\n"),
                              ("stdout", b"STEP 2/2\n"), ("exit", 3)))
    assert p.returncode == 3
    assert p.stdout == b"STEP 1/2\nSTEP 2/2\n"
    assert b"warn\n" in p.stderr
    assert b"STEP" not in p.stderr
    assert b"r2k: " in p.stderr and b"status 3" in p.stderr


def test_success_prints_digest(ctx):
    p, _ = run(ctx, scripted(("exit", 0, "sha256:" + "a" * 64)))
    assert p.returncode == 0
    assert p.stdout == b""
    assert b"sha256:" + b"a" * 64 in p.stderr


def test_killed_by_signal(ctx):
    p, _ = run(ctx, scripted(("signal", 9)))
    assert p.returncode == 137
    assert b"signal 9" in p.stderr


@pytest.mark.parametrize("code,status", [(1, 76), (2, 76), (3, 77), (4, 65), (5, 77), (6, 77),
                                         (7, 70), (8, 130), (9, 70), (10, 77), (99, 70)])
def test_error_codes(ctx, code, status):
    msg = "context entry '../x': name leaves the workspace (%d)" % code
    p, _ = run(ctx, scripted(("error", code, msg)))
    assert p.returncode == status, p.stderr
    assert msg.encode() in p.stderr
    assert p.stderr.startswith(b"r2k: ")


def test_error_before_context_is_read(ctx):
    """The runner refuses the request while the context is still on its way."""
    p, _ = run(ctx, scripted(before_context=(("error", 5, "runner busy: 4 builds running"),)))
    assert p.returncode == 77
    assert b"runner busy" in p.stderr


def test_log_check_keepalive(ctx):
    check = {"target": "localhost:5000", "kind": "reachability", "status": "ok",
             "passed": True, "detail": "HTTP 200", "latency_ms": 1.2}
    bad = dict(check, kind="auth", status="bad_credentials", passed=False, detail="401")
    p, _ = run(ctx, scripted(("raw", fakerunner.encode_frame(fakerunner.KEEPALIVE)),
                             ("log", 2, "pulling base image"), ("log", 1, "slow registry"),
                             ("log", 3, "debug detail"), ("check", check), ("check", bad),
                             ("exit", 0)))
    assert p.returncode == 0
    lines = p.stderr.decode().splitlines()
    assert "r2k: pulling base image" in lines
    assert "r2k: warning: slow registry" in lines
    assert not any("debug detail" in line for line in lines)
    assert any(line.startswith("r2k: ") and "reachability" in line and "localhost:5000" in line
               for line in lines)
    assert any("FAILED" in line and "bad_credentials" in line for line in lines)


def test_runner_text_cannot_drive_the_terminal(ctx):
    """Control characters in the runner's messages never reach the terminal as they are."""
    check = {"target": "reg\x1b]0;pwned\x07:5000", "kind": "auth", "status": "ok\r",
             "passed": True, "detail": "a\nr2k: fake line", "latency_ms": 1}
    p, _ = run(ctx, scripted(("log", 2, "red \x1b[31mtext\x1b[0m\rover"), ("check", check),
                             ("error", 6, "bad\x1b[2J\nr2k: image digest sha256:fake")))
    err = p.stderr.decode()
    assert p.returncode == 77, err
    assert "\x1b" not in err and "\r" not in err and "\x07" not in err, repr(err)
    assert "r2k: red ?[31mtext?[0m?over" in err.splitlines(), repr(err)
    assert not any(l.startswith("r2k: fake") or l.startswith("r2k: image digest")
                   for l in err.splitlines()), repr(err)
    assert len(err.splitlines()) == 3, repr(err)


def test_json_lines(ctx):
    check = {"target": "localhost:5000", "kind": "push", "status": "ok", "passed": True,
             "detail": "", "latency_ms": 3}
    p, _ = run(ctx, scripted(("stdout", b"hello \xc3"), ("stdout", b"\xa9 world\n"),
                             ("stderr", b"bin\xff\x00ary"), ("log", 2, "info line"),
                             ("check", check), ("exit", 4, "sha256:beef")), "--json")
    assert p.returncode == 4
    objs = [json.loads(line) for line in p.stdout.decode().splitlines()]
    streams = [o for o in objs if "stream" in o]
    out = "".join(o["data"] for o in streams if o["stream"] == "stdout")
    assert out == "hello \u00e9 world\n"  # a character split across frames is kept whole
    err = [o for o in streams if o["stream"] == "stderr"]
    import base64
    assert base64.b64decode(err[0]["data_base64"]) == b"bin\xff\x00ary"
    assert {"log": {"level": "info", "origin": "runner", "message": "info line"}} in objs
    assert {"check": check} in objs
    assert objs[-1] == {"exit": {"code": 4, "digest": "sha256:beef", "status": 4}}


def test_json_error_and_signal(ctx):
    p, _ = run(ctx, scripted(("error", 6, "preflight: push to x denied")), "--json")
    assert p.returncode == 77
    last = json.loads(p.stdout.decode().splitlines()[-1])
    assert last == {"error": {"code": 6, "name": "PREFLIGHT", "origin": "runner",
                              "message": "preflight: push to x denied", "status": 77}}
    p, _ = run(ctx, scripted(("signal", 15)), "--json")
    assert p.returncode == 143
    assert json.loads(p.stdout.decode().splitlines()[-1]) == {"exit": {"signal": 15,
                                                                       "status": 143}}


def test_large_output_to_a_pipe(ctx):
    """20 MiB of builder output reaches stdout intact, in order."""
    chunks = [os.urandom(60000) for _ in range(350)]
    p, _ = run(ctx, scripted(*[("stdout", c) for c in chunks], ("exit", 0)))
    assert p.returncode == 0
    assert hashlib.sha256(p.stdout).digest() == hashlib.sha256(b"".join(chunks)).digest()


def test_broken_stdout_is_reported(ctx):
    """stdout that cannot be written (a full disk) is said once on stderr; the build's
    stderr and exit status still arrive."""
    handler = scripted(("stdout", b"a" * 1000), ("stderr", b"warn\n"), ("stdout", b"b" * 1000),
                       ("exit", 3))
    with FakeRunner(handler) as fr, open("/dev/full", "wb") as full:
        p = subprocess.run([R2K, "client", "--progress=never", "--runner", fr.address,
                            "--context", ctx], stdout=full, stderr=subprocess.PIPE, timeout=120)
    assert p.returncode == 3
    assert p.stderr.count(b"r2k: warning: cannot write to stdout (no space left on device)") == 1
    assert b"warn\n" in p.stderr


def test_output_to_regular_files_kept_whole_and_in_order(ctx, tmp_path):
    """stdout and stderr redirected to regular files (written from the loop, not the
    thread pool) get every byte of each stream, in order; a full disk is still said."""
    out_chunks = [os.urandom(1 + (i * 7919) % 70000) for i in range(200)]
    err_chunks = [b"line %d\n" % i for i in range(200)]
    steps = []
    for o, e in zip(out_chunks, err_chunks):
        steps += [("stdout", o), ("stderr", e)]
    with FakeRunner(scripted(*steps, ("exit", 0))) as fr, \
            open(tmp_path / "out", "wb") as out, open(tmp_path / "err", "wb") as err:
        p = subprocess.run([R2K, "client", "--progress=never", "--runner", fr.address,
                            "--context", ctx], stdout=out, stderr=err, timeout=120)
    assert p.returncode == 0
    assert (tmp_path / "out").read_bytes() == b"".join(out_chunks)
    assert (tmp_path / "err").read_bytes() == b"".join(err_chunks)


def test_slow_stdout_reader(ctx):
    """A reader that takes its time still gets every byte."""
    data = [os.urandom(65536) for _ in range(64)]
    with FakeRunner(scripted(*[("stdout", c) for c in data], ("exit", 0))) as fr:
        proc = subprocess.Popen([R2K, "client", "--progress=never", "--runner", fr.address,
                                 "--context", ctx], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        got = bytearray()
        while True:
            b = proc.stdout.read(8192)
            if not b:
                break
            got += b
            if len(got) < (1 << 20):
                time.sleep(0.002)
        proc.wait(120)
        proc.stderr.close()
        proc.stdout.close()
    assert proc.returncode == 0
    assert bytes(got) == b"".join(data)


def version_handler(send_error):
    def handler(conn):
        conn.read_frame()  # the REQUEST
        conn.send_raw(encode_preamble(2))
        if send_error:
            conn.send_error(2, "runner speaks protocol version 2, client sent 1")
        conn.close()
    return handler


def test_version_mismatch_with_message(ctx):
    p, _ = run(ctx, version_handler(True))
    assert p.returncode == 76
    assert b"runner speaks protocol version 2, client sent 1" in p.stderr


def test_version_mismatch_without_message(ctx):
    p, _ = run(ctx, version_handler(False))
    assert p.returncode == 76
    assert b"protocol version 2" in p.stderr


def test_bad_magic(ctx):
    def handler(conn):
        conn.read_frame()
        conn.send_raw(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        conn.close()
    p, _ = run(ctx, handler)
    assert p.returncode == 76
    assert b"does not speak the r2k protocol" in p.stderr


def test_runner_closes_mid_stream(ctx):
    big = tempfile.mkdtemp(prefix="r2k-big-")
    try:
        with open(os.path.join(big, "blob"), "wb") as f:
            f.write(os.urandom(8 << 20))

        def handler(conn):
            conn.read_request()
            conn.send_preamble()
            conn.read_frame()  # one CONTEXT frame, then hang up
            conn.sock.close()
        p, _ = run(big, handler)
    finally:
        shutil.rmtree(big)
    assert p.returncode == 76
    assert b"lost" in p.stderr or b"closed" in p.stderr


def test_runner_closes_after_context(ctx):
    p, _ = run(ctx, scripted(("stdout", b"partial"), ("close",)))
    assert p.returncode == 76
    assert p.stdout == b"partial"


def test_runner_sends_client_frame(ctx):
    p, _ = run(ctx, scripted(("raw", fakerunner.encode_frame(fakerunner.CONTEXT, b"x")),
                             ("exit", 0)))
    assert p.returncode == 76
    assert b"CONTEXT" in p.stderr


def test_runner_sends_oversized_frame(ctx):
    p, _ = run(ctx, scripted(("raw", b"\x02\x02\x00\x00\x7f\x00\x00\x00"), ("exit", 0)))
    assert p.returncode == 76
    assert b"protocol error" in p.stderr


def test_cannot_connect():
    port = closed_port()
    p = run_client(["--runner", "tcp://127.0.0.1:%d" % port, "--context", "/"])
    assert p.returncode == 69
    assert b"cannot connect" in p.stderr and str(port).encode() in p.stderr


def test_cannot_connect_unix():
    p = run_client(["--runner", "unix:///nonexistent/r2k.sock", "--context", "/"])
    assert p.returncode == 69


def test_unix_socket_and_env_address(ctx):
    d = tempfile.mkdtemp(prefix="r2k-sock-")
    try:
        with FakeRunner(scripted(("stdout", b"via unix\n"), ("exit", 0)),
                        unix_path=os.path.join(d, "r.sock")) as fr:
            p = run_client(["--context", ctx], env={"R2K_RUNNER": fr.address})
    finally:
        shutil.rmtree(d)
    assert p.returncode == 0, p.stderr
    assert p.stdout == b"via unix\n"


def test_ipv6_and_names(ctx):
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        fr = FakeRunner(scripted(("exit", 0)), ipv6=True)
    except OSError:
        pytest.skip("no ::1")
    with fr:
        p = run_client(["--runner", fr.address, "--context", ctx])
    assert p.returncode == 0, p.stderr
    with FakeRunner(scripted(("exit", 5))) as fr:
        port = fr.address.rsplit(":", 1)[1]
        p = run_client(["--runner", "tcp://localhost:%s" % port, "--context", ctx])
    assert p.returncode == 5, p.stderr


def test_usage_errors():
    assert run_client(["--no-such-option"]).returncode == 2
    p = run_client(["--context", "/"])
    assert p.returncode == 2 and b"R2K_RUNNER" in p.stderr
    assert run_client(["--runner", "ftp://x:1"]).returncode == 2
    assert run_client(["--runner", "tcp://127.0.0.1:1", "--progress", "sometimes"]).returncode == 2
    p = run_client(["--runner", "tcp://127.0.0.1:0", "--context", "/"])
    assert p.returncode == 2 and b"port 0 cannot be connected to" in p.stderr, p.stderr


def cancel_handler(answer):
    def handler(conn):
        conn.read_request()
        conn.send_preamble()
        conn.read_context(inspect=False)
        conn.send_stdout(b"building\n")
        if conn.wait_for(CANCEL) and answer:
            conn.send_exit(signal=15)
        else:
            time.sleep(30)
        conn.close()
    return handler


@pytest.mark.parametrize("sig,status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_sends_cancel(ctx, sig, status):
    with FakeRunner(cancel_handler(True)) as fr:
        proc = subprocess.Popen([R2K, "client", "--progress=never", "--runner", fr.address,
                                 "--context", ctx], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        assert proc.stdout.readline() == b"building\n"
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    assert fr.conns[0].cancelled
    assert proc.returncode == status, err
    assert b"cancel" in err


def test_second_ctrl_c_quits_at_once(ctx):
    fr = FakeRunner(cancel_handler(False)).start()
    try:
        proc = subprocess.Popen([R2K, "client", "--progress=never", "--runner", fr.address,
                                 "--context", ctx], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        assert proc.stdout.readline() == b"building\n"
        proc.send_signal(signal.SIGINT)
        assert proc.stderr.readline().startswith(b"r2k: cancelling")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=5)
        assert proc.returncode == 130
        for _ in range(100):
            if fr.conns[0].cancelled:
                break
            time.sleep(0.1)
        assert fr.conns[0].cancelled
    finally:
        fr.sock.close()


def test_ctrl_c_while_uploading_from_a_stalled_pipe(ctx):
    """stdin never ends: Ctrl-C still cancels (the loop is not blocked on stdin)."""
    import threading
    got_request = threading.Event()

    def handler(conn):
        conn.read_request()
        conn.send_preamble()
        got_request.set()
        conn.wait_for(CANCEL)
        conn.send_error(8, "cancelled before the builder ran")
        conn.close()
    r, w = os.pipe()
    try:
        with FakeRunner(handler) as fr:
            proc = subprocess.Popen([R2K, "client", "--progress=never", "--runner", fr.address,
                                     "--context", "-"], stdin=r, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE)
            os.write(w, b"\0" * 1024)
            assert got_request.wait(60)
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=60)
    finally:
        os.close(r)
        os.close(w)
    assert proc.returncode == 130, err
    assert fr.conns[0].cancelled
    assert b"cancelled before the builder ran" in err


def test_json_local_error():
    p = run_client(["--json", "--runner", "tcp://127.0.0.1:%d" % closed_port(), "--context", "/"])
    assert p.returncode == 69
    obj = json.loads(p.stdout.decode().splitlines()[-1])
    assert obj["error"]["name"] == "CONNECT"
    assert obj["error"]["origin"] == "client"
    assert obj["error"]["status"] == 69
    assert "code" not in obj["error"]


def test_progress_only_when_asked(ctx):
    """auto: stderr is a pipe here, so no progress; always: progress lines appear."""
    with FakeRunner(scripted(("exit", 0))) as fr:
        p = subprocess.run([R2K, "client", "--runner", fr.address, "--context", ctx],
                           capture_output=True, timeout=120)
    assert p.returncode == 0
    assert b"context" not in p.stderr
    with FakeRunner(scripted(("exit", 0))) as fr:
        p = run_client(["--runner", fr.address, "--context", ctx, "--progress=always"])
    assert p.returncode == 0
    assert b"r2k: context sent:" in p.stderr
    assert b"\x1b[" not in p.stderr  # no terminal escapes when stderr is not a terminal


def test_output_backpressure_bounds_memory(ctx):
    """64 MiB of output to a stdout nobody reads yet: the client stops reading the runner
    instead of buffering it all."""
    chunk = os.urandom(65536)
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=1"
    with FakeRunner(scripted(*[("stdout", chunk)] * 1024, ("exit", 0))) as fr:
        proc = subprocess.Popen([R2K, "client", "--progress=never", "--runner", fr.address,
                                 "--context", ctx], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, env=env)
        time.sleep(1)  # let the runner get ahead of the reader
        peak = peak_rss_kib(proc.pid) or 0
        h = hashlib.sha256()
        n = 0
        while True:
            b = proc.stdout.read(1 << 16)
            if not b:
                break
            h.update(b)
            n += len(b)
            peak = max(peak, peak_rss_kib(proc.pid) or 0)
        proc.stdout.close()
        proc.wait(120)
    assert proc.returncode == 0
    assert n == 1024 * 65536
    assert h.digest() == hashlib.sha256(chunk * 1024).digest()
    assert 0 < peak < 48 * 1024, "the client grew to %d KiB" % peak


def test_connect_timeout():
    """A runner whose accept queue is full never completes the handshake."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(0)
    addr = srv.getsockname()
    fillers = []
    try:
        # Fill the accept queue so that further SYNs are dropped.
        for _ in range(8):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(addr)
            fillers.append(s)
        p = run_client(["--runner", "tcp://127.0.0.1:%d" % addr[1], "--context", "/",
                        "--connect-timeout", "0.5"], timeout=120)
    finally:
        for s in fillers:
            s.close()
        srv.close()
    assert p.returncode == 69, p.stderr
    assert b"timed out" in p.stderr


def test_runner_that_never_answers(ctx):
    def handler(conn):
        conn.read_frame()
        while conn.read_frame() is not None:  # until the client gives up
            pass
    p, _ = run(ctx, handler, "--connect-timeout", "0.5")
    assert p.returncode == 69, p.stderr
    assert b"did not answer" in p.stderr


def test_error_mid_upload_then_abrupt_close():
    """The runner refuses the context after one frame and closes without reading the rest
    (the client's writes then fail): the client still reports the runner's error."""
    big = tempfile.mkdtemp(prefix="r2k-big-")
    try:
        with open(os.path.join(big, "blob"), "wb") as f:
            f.write(os.urandom(16 << 20))

        def handler(conn):
            conn.read_request()
            conn.send_preamble()
            conn.read_frame()
            conn.send_error(4, "context entry 'blob': too large")
            conn.sock.close()
        for _ in range(5):
            p, _ = run(big, handler)
            assert p.returncode == 65, p.stderr
            assert b"context entry 'blob': too large" in p.stderr
    finally:
        shutil.rmtree(big)
