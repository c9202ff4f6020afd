"""The runner's side of the framed protocol: preamble, state machine, request errors, slots."""
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time

import pytest

sys.path.insert(0, os.path.join(os.environ["R2K_SOURCE_DIR"], "tests", "lib"))
import builders  # noqa: E402
import r2kwire as w  # noqa: E402

DOCKERFILE_TAR = w.make_tar([("Dockerfile", b"FROM scratch\n", 0o644)])


@pytest.fixture
def tmp():
    d = tempfile.mkdtemp(prefix="r2k-test-session-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def multi(tmp):
    executor, _ = builders.recording_executor(tmp)
    runner = w.Runner("--executor", executor, "--workspace", os.path.join(tmp, "ws"), "--multiple")
    yield runner
    runner.stop()


def exchange(runner, data):
    s = w.connect(runner.addr)
    s.sendall(data)
    res = w.read_result(s)
    rest = w.wait_closed(s)
    s.close()
    return res, rest


def test_first_frame_must_be_request(multi):
    res, rest = exchange(multi, w.preamble() + w.frame(w.CONTEXT, b"x"))
    assert res.preamble == w.preamble()
    assert res.error[0] == 1 and "expected REQUEST" in res.error[1]
    assert rest == b""


def test_version_mismatch(multi):
    res, _ = exchange(multi, w.preamble(2) + w.request())
    assert res.preamble == w.preamble(1)
    assert res.error == (2, "runner speaks protocol version 1, client sent 2")


def test_bad_magic_closes_silently(multi):
    s = w.connect(multi.addr)
    s.sendall(b"\x89XYZ\r\n\x1a\n\0\1\0\0")
    assert w.wait_closed(s) == b""
    s.close()


def test_unknown_frame_type(multi):
    res, _ = exchange(multi, w.preamble() + struct.pack(">HHI", 0x0777, 0, 0))
    assert res.error[0] == 1 and "unknown frame type" in res.error[1]


def test_runner_to_client_type_refused(multi):
    res, _ = exchange(multi, w.preamble() + w.request() + w.frame(w.STDOUT, b"x"))
    assert res.error[0] == 1 and "unexpected STDOUT" in res.error[1]


def test_second_request_refused(multi):
    res, _ = exchange(multi, w.preamble() + w.request() + w.request())
    assert res.error[0] == 1 and "unexpected REQUEST" in res.error[1]


def test_context_after_end_refused(multi):
    data = DOCKERFILE_TAR
    res, _ = exchange(multi, w.preamble() + w.request() + w.frame(w.CONTEXT, data) +
                      w.context_end(data) + w.frame(w.CONTEXT, b"more"))
    assert res.error[0] == 1 and "after CONTEXT_END" in res.error[1]


def test_keepalive_ignored(multi):
    data = DOCKERFILE_TAR
    res, _ = exchange(multi, w.preamble() + w.frame(w.KEEPALIVE) + w.request() +
                      w.frame(w.KEEPALIVE) + w.frame(w.CONTEXT, data) + w.context_end(data) +
                      w.frame(w.KEEPALIVE))
    assert res.exit[:2] == (0, 0), res.error


def test_bad_requests(multi):
    cases = [
        (w.frame(w.REQUEST, b"{not json"), "invalid build request"),
        (w.frame(w.REQUEST, b'{"destinations": "x"}'), "destinations"),
        (w.request(dockerfile="../Dockerfile"), "dockerfile '../Dockerfile': leaves the context"),
        (w.request(dockerfile="/etc/passwd"), "dockerfile '/etc/passwd': absolute name"),
        (w.request(credentials=[{"registry": "r.example", "username": "u"}]), "credentials[0]"),
        # A NUL would cut the value short in argv: refused rather than truncated.
        (w.frame(w.REQUEST, b'{"destinations": ["reg/a\\u0000b"]}'), "NUL character"),
        (w.frame(w.REQUEST, b'{"build_args": ["K=v\\\\\\u0000"]}'), "NUL character"),
        (w.frame(w.REQUEST, b'{"target": "a\x00"}'), "NUL character"),
        # An empty value would reach the builder as "--destination=".
        (w.request(destinations=["reg/a", ""]), "'destinations[1]' is empty"),
        (w.request(cache_repo=""), "'cache_repo' is empty"),
        (w.request(platform=""), "'platform' is empty"),
    ]
    for req, text in cases:
        res, _ = exchange(multi, w.preamble() + req)
        assert res.error and res.error[0] == 3 and text in res.error[1], (text, res.error)


@pytest.mark.parametrize("req", [w.frame(w.REQUEST, b"{not json"),
                                 w.request(dockerfile="/etc/passwd"),
                                 w.request(credentials=[{"registry": "r.example",
                                                         "auth": "not base64"}])])
def test_refused_request_does_not_use_up_a_single_shot_runner(tmp, req):
    """A request refused before it takes a build slot ran nothing (Kaniko's one build
    is still to come): the single-shot runner serves the next client, then exits."""
    executor, record = builders.recording_executor(tmp)
    ws = os.path.join(tmp, "ws")
    runner = w.Runner("--executor", executor, "--workspace", ws)
    try:
        res, _ = exchange(runner, w.preamble() + req)
        assert res.error and res.error[0] == 3, res.error
        assert runner.proc.poll() is None, runner.log()
        assert not os.path.exists(record)
        res = w.build(runner.addr, {}, DOCKERFILE_TAR)
        assert res.exit and res.exit[:2] == (0, 0), (res.error, runner.log()[-2000:])
        assert runner.wait(60) == 0, runner.log()
    finally:
        runner.stop()
    assert os.listdir(ws) == []


def test_dockerfile_checked_after_extraction(multi):
    for files, text in [
        ([("other", b"x", 0o644)], "dockerfile 'Dockerfile' not found in the context"),
        ([("Dockerfile", None, 0o755)], "is not a regular file"),
    ]:
        res = w.build(multi.addr, {}, w.make_tar(files))
        assert res.error and res.error[0] == 3 and text in res.error[1], res.error
    import io
    import tarfile
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        ti = tarfile.TarInfo("Dockerfile")
        ti.type = tarfile.SYMTYPE
        ti.linkname = "/etc/passwd"
        t.addfile(ti)
    res = w.build(multi.addr, {}, buf.getvalue())
    assert res.error and res.error[0] == 3 and "is a symlink" in res.error[1], res.error


def test_single_shot_exits_with_status_and_second_is_busy(tmp):
    executor = builders.script_executor(tmp, "echo started; sleep 2; exit 7")
    runner = w.Runner("--executor", executor, "--workspace", os.path.join(tmp, "ws"))
    try:
        data = DOCKERFILE_TAR
        s = w.connect(runner.addr)
        s.sendall(w.preamble() + w.request() + w.frame(w.CONTEXT, data) + w.context_end(data))
        res = w.Result()
        res.preamble = w.recv_exact(s, 12)
        t, payload = w.read_frame(s)
        while t != w.STDOUT:
            t, payload = w.read_frame(s)
        assert payload == b"started\n"
        # The runner is busy with its one build.
        res2, _ = exchange(runner, w.preamble() + w.request())
        assert res2.error[0] == 5 and "busy" in res2.error[1], res2.error
        res = w.read_result(s, res)
        s.close()
        assert res.exit == (0, 7, "")
        assert runner.wait() == 7, runner.log()
    finally:
        runner.stop()


def test_single_shot_status_for_refused_context(tmp):
    executor, _ = builders.recording_executor(tmp)
    runner = w.Runner("--executor", executor, "--workspace", os.path.join(tmp, "ws"))
    try:
        res = w.build(runner.addr, {}, w.make_tar([("../x", b"x", 0o644)]))
        assert res.error[0] == 4
        assert runner.wait() == 65
    finally:
        runner.stop()


def test_max_builds_busy(tmp):
    executor = builders.script_executor(tmp, "echo started; sleep 30")
    runner = w.Runner("--executor", executor, "--workspace", os.path.join(tmp, "ws"),
                      "--multiple", "--max-builds", "1", "--kill-timeout", "1")
    try:
        data = DOCKERFILE_TAR
        s = w.connect(runner.addr)
        s.sendall(w.preamble() + w.request() + w.frame(w.CONTEXT, data) + w.context_end(data))
        w.recv_exact(s, 12)
        while w.read_frame(s)[0] != w.STDOUT:
            pass
        res2, _ = exchange(runner, w.preamble() + w.request())
        assert res2.error[0] == 5 and "--max-builds" in res2.error[1], res2.error
        s.sendall(w.frame(w.CANCEL))
        res = w.Result()
        res.preamble = b"read"
        res = w.read_result(s, res)
        s.close()
        assert res.exit == (1, 15, "")
        # The slot is free again: the next build gets in (and is cancelled before its builder).
        s = w.connect(runner.addr)
        s.sendall(w.preamble() + w.request() + w.frame(w.CANCEL))
        res = w.read_result(s)
        s.close()
        assert res.error[0] == 8, res.error
    finally:
        assert runner.stop() == 0


def test_idle_client_during_upload(tmp):
    executor, record = builders.recording_executor(tmp)
    ws = os.path.join(tmp, "ws")
    runner = w.Runner("--executor", executor, "--workspace", ws, "--idle-timeout", "1")
    try:
        s = w.connect(runner.addr)
        s.sendall(w.preamble() + w.request() + w.frame(w.CONTEXT, DOCKERFILE_TAR[:1000]))
        res = w.read_result(s)
        s.close()
        assert res.error[0] == 1 and "--idle-timeout" in res.error[1], res.error
        assert runner.wait() == 76
        assert os.listdir(ws) == [] and not os.path.exists(record)
    finally:
        runner.stop()


def test_concurrent_builds(tmp):
    executor = builders.script_executor(tmp, "echo start $$; sleep 1; echo end $$; exit 4")
    ws = os.path.join(tmp, "ws")
    runner = w.Runner("--executor", executor, "--workspace", ws, "--multiple", "--max-builds", "2")
    try:
        socks = []
        for _ in range(2):
            s = w.connect(runner.addr)
            s.sendall(w.preamble() + w.request() + w.frame(w.CONTEXT, DOCKERFILE_TAR) +
                      w.context_end(DOCKERFILE_TAR))
            socks.append(s)
        results = [w.read_result(s) for s in socks]
        for s in socks:
            s.close()
        pids = set()
        for res in results:
            assert res.exit == (0, 4, ""), res.error
            lines = bytes(res.stdout).split(b"\n")
            assert lines[0].startswith(b"start ") and lines[1] == b"end " + lines[0][6:]
            pids.add(lines[0])
        assert len(pids) == 2
        assert not os.path.exists(ws) or os.listdir(ws) == []
    finally:
        assert runner.stop() == 0


def version_of(runner):
    s = w.connect(runner.addr)
    s.sendall(b"GET /version HTTP/1.1\r\nConnection: close\r\n\r\n")
    body = w.wait_closed(s).split(b"\r\n\r\n", 1)[1]
    s.close()
    return json.loads(body)


def test_max_builds_default_follows_the_backend(tmp):
    """Kaniko unpacks images onto its container's root: one build at a time unless told;
    an explicit --max-builds above 1 with Kaniko is warned about; buildah defaults to 4."""
    runner = w.Runner("--multiple", "--workspace", os.path.join(tmp, "ws"))
    try:
        assert version_of(runner)["max_builds"] == 1
    finally:
        runner.stop()
    assert "warning" not in runner.log()
    runner = w.Runner("--multiple", "--max-builds", "3", "--workspace", os.path.join(tmp, "ws"))
    try:
        assert version_of(runner)["max_builds"] == 3
    finally:
        runner.stop()
    assert "warning: --max-builds 3 with Kaniko" in runner.log()
    runner = w.Runner("--multiple", "--backend", "buildah", "--workspace", os.path.join(tmp, "ws"))
    try:
        assert version_of(runner)["max_builds"] == 4
    finally:
        runner.stop()
    assert "warning" not in runner.log()


def test_missing_builder_is_said_at_start(tmp):
    """A runner whose builder cannot be executed says so when it starts, not only when a
    build arrives; it still serves (probes, and builds once the builder is there)."""
    exe = os.path.join(tmp, "executor")
    runner = w.Runner("--multiple", "--executor", exe, "--workspace", os.path.join(tmp, "ws"))
    try:
        assert version_of(runner)["backend"] == "kaniko"
    finally:
        runner.stop()
    assert "warn: cannot start %s: No such file or directory (--executor)" % exe in runner.log()
    with open(exe, "w") as f:
        f.write("#!/bin/sh\n")
    os.chmod(exe, 0o644)
    runner = w.Runner("--executor", exe, "--workspace", os.path.join(tmp, "ws"))
    runner.stop()
    assert "cannot start %s: Permission denied" % exe in runner.log()
    os.chmod(exe, 0o755)
    runner = w.Runner("--executor", exe, "--workspace", os.path.join(tmp, "ws"))
    runner.stop()
    assert "cannot start" not in runner.log()


def test_preamble_answered_before_any_frame(multi):
    s = w.connect(multi.addr)
    s.sendall(w.preamble())
    assert w.recv_exact(s, 12) == w.preamble()
    s.sendall(w.request() + w.frame(w.CONTEXT, DOCKERFILE_TAR) + w.context_end(DOCKERFILE_TAR))
    res = w.Result()
    res.preamble = b"read"
    res = w.read_result(s, res)
    s.close()
    assert res.exit[:2] == (0, 0), res.error


@pytest.mark.parametrize("args,message", [
    (["--max-builds", "0"], "--max-builds must be at least 1"),
    (["--idle-timeout", "0"], "--idle-timeout must be more than 0 seconds"),
    (["--check-timeout", "0"], "--check-timeout must be more than 0 seconds"),
    (["--preflight", "strict"], "--preflight 'strict': must be enforce, warn or off"),
    (["--backend", "docker"], "--backend 'docker': must be kaniko or buildah"),
    (["--idle-timeout"], "--idle-timeout"),
])
def test_bad_runner_options(args, message):
    p = subprocess.run([os.environ["R2K_BIN"], "runner", "--listen", "tcp://127.0.0.1:1"] + args,
                       capture_output=True, timeout=30)
    assert p.returncode == 2, p
    assert message in p.stderr.decode(), p.stderr
    assert len(p.stderr.decode().splitlines()) == 1, p.stderr


def test_version_help():
    for arg in ("--help", "-h"):
        p = subprocess.run([os.environ["R2K_BIN"], "version", arg], capture_output=True)
        assert p.returncode == 0 and p.stdout.startswith(b"Usage: r2k version"), p
    p = subprocess.run([os.environ["R2K_BIN"], "version", "--bogus"], capture_output=True)
    assert p.returncode == 2 and b"unexpected argument '--bogus'" in p.stderr, p


def test_help_command():
    bin = os.environ["R2K_BIN"]
    for args in (["help"], ["help", "help"]):
        p = subprocess.run([bin] + args, capture_output=True)
        assert p.returncode == 0 and p.stdout.startswith(b"Usage: r2k COMMAND"), p
    p = subprocess.run([bin, "help", "client"], capture_output=True)
    assert p.returncode == 0 and p.stdout.startswith(b"Usage: r2k client"), p
    p = subprocess.run([bin, "help", "bogus"], capture_output=True)
    assert p.returncode == 2 and b"unknown command 'bogus'" in p.stderr, p
    p = subprocess.run([bin, "help", "client", "extra"], capture_output=True)
    assert p.returncode == 2 and b"unexpected argument 'extra'" in p.stderr, p
    assert p.stdout == b"", p
