"""Graceful shutdown: SIGTERM lets builds finish for --shutdown-grace, then cancels them."""
import os
import signal
import sys
import threading

import pytest

sys.path.insert(0, os.path.join(os.environ.get("R2K_SOURCE_DIR", "."), "tests", "lib"))
from runnerproc import remove_tmp_path, Runner, connect, http_get, legacy_build, read_response, wait_for  # noqa

EXECUTOR = """#!/bin/sh
: "${R2K_TEST_DIR:?}"
echo $$ > "$R2K_TEST_DIR/exec.pid"
echo started
while [ ! -e "$R2K_TEST_DIR/release" ]; do sleep 0.05; done
echo finished
"""


@pytest.fixture
def setup(tmp_path):
    ws = tmp_path / "ws"
    (ws / "ctx").mkdir(parents=True)
    exe = tmp_path / "executor"
    exe.write_text(EXECUTOR)
    exe.chmod(0o755)

    def start(*extra):
        return Runner("--multiple", "--max-builds", "4", "--executor", str(exe),
                      "--shared-workspace", str(ws),
                      "--workspace", str(tmp_path / "builds"), "--kill-timeout", "2", *extra,
                      env={"R2K_TEST_DIR": str(tmp_path)})

    def build(r, res):
        res["text"], res["ok"] = legacy_build(r.addr, [str(exe), "--context", str(ws / "ctx")])

    return start, build, tmp_path


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


def running_build(start, build, tmp_path, *extra):
    r = start(*extra)
    res = {}
    t = threading.Thread(target=build, args=(r, res))
    t.start()
    wait_for(lambda: (tmp_path / "exec.pid").exists() and
             (tmp_path / "exec.pid").read_text().strip(), what="builder start")
    return r, res, t, int((tmp_path / "exec.pid").read_text())


def test_sigterm_waits_for_running_build(setup):
    start, build, tmp = setup
    r, res, t, pid = running_build(start, build, tmp, "--shutdown-grace", "300")
    try:
        addr = r.addr
        probe = connect(addr)
        probe.sendall(b"GET /readyz HTTP/1.1\r\n\r\n")
        resp, rest = read_response(probe)
        assert resp.status == 200  # one of --max-builds 4 slots is taken
        r.signal(signal.SIGTERM)
        r.wait_log("SIGTERM: no new builds")
        probe.sendall(b"GET /readyz HTTP/1.1\r\n\r\n")
        resp, rest = read_response(probe, rest)
        assert resp.status == 503 and b"shutting down" in resp.body
        assert resp.header("connection") == "close"
        probe.close()
        # No longer accepting: the listener is closed.
        with pytest.raises(OSError):
            connect(addr, timeout=5).close()
        assert r.proc.poll() is None and alive(pid), "the build keeps running"
        (tmp / "release").write_text("")
        t.join(120)
        assert res["ok"], res["text"]
        assert "finished" in res["text"]
        assert r.wait(60) == 0
    finally:
        r.stop()


def test_grace_period_over_cancels(setup):
    start, build, tmp = setup
    r, res, t, pid = running_build(start, build, tmp, "--shutdown-grace", "1")
    try:
        r.signal(signal.SIGTERM)
        t.join(120)
        assert not res["ok"]
        assert "build cancelled: runner is shutting down" in res["text"]
        assert res["text"].endswith("status: FAILED\n")
        assert r.wait(60) == 0
        assert not alive(pid)
        assert "grace period over" in r.log
    finally:
        r.stop()


@pytest.mark.parametrize("second", [signal.SIGTERM, signal.SIGINT])
def test_second_signal_cancels_at_once(setup, second):
    start, build, tmp = setup
    r, res, t, pid = running_build(start, build, tmp, "--shutdown-grace", "300")
    try:
        r.signal(signal.SIGTERM)
        r.wait_log("SIGTERM: no new builds")
        r.signal(second)
        t.join(120)
        assert not res["ok"] and "build cancelled" in res["text"]
        assert r.wait(60) == 0
        assert not alive(pid)
    finally:
        r.stop()


def test_idle_runner_exits_at_once_and_closes_keepalive(setup):
    start, build, tmp = setup
    r = start("--shutdown-grace", "300")
    try:
        s = connect(r.addr)
        s.sendall(b"GET /healthz HTTP/1.1\r\n\r\n")
        assert s.recv(4096).startswith(b"HTTP/1.1 200")
        r.signal(signal.SIGTERM)
        assert r.wait(60) == 0
        assert s.recv(4096) == b""  # the idle keep-alive connection was closed
        s.close()
    finally:
        r.stop()


def test_stopping_is_notified_when_the_shutdown_begins(setup, tmp_path):
    """STOPPING=1 goes out as soon as SIGTERM arrives, while builds still finish, so that
    systemd shows the unit as deactivating; READY=1 came once serving."""
    import socket
    start, build, tmp = setup
    path = str(tmp_path / "notify")
    ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    ns.bind(path)
    ns.settimeout(60)
    os.environ["NOTIFY_SOCKET"] = path
    try:
        r, res, t, pid = running_build(start, build, tmp, "--shutdown-grace", "300")
    finally:
        del os.environ["NOTIFY_SOCKET"]
    try:
        assert ns.recv(4096) == b"READY=1"
        r.signal(signal.SIGTERM)
        assert ns.recv(4096) == b"STOPPING=1"
        assert alive(pid) and r.proc.poll() is None, "the build is still running"
        (tmp / "release").write_text("")
        t.join(120)
        assert res["ok"], res["text"]
        assert r.wait(60) == 0
        ns.setblocking(False)  # the runner has exited: whatever it sent is queued
        with pytest.raises(BlockingIOError):
            ns.recv(4096)  # nothing more, in particular no second STOPPING=1
    finally:
        r.stop()
        ns.close()


def test_sighup_ends_the_runner_and_cleans_up(setup):
    """SIGHUP (the terminal the runner was started from went away) used to kill the runner
    where it stood, leaving the builder running and its credentials on disk."""
    start, build, tmp = setup
    r, res, t, pid = running_build(start, build, tmp, "--shutdown-grace", "300")
    try:
        assert os.listdir(tmp / "builds"), "the build's directory exists while it runs"
        r.signal(signal.SIGHUP)
        t.join(120)
        assert not res["ok"] and "build cancelled: runner interrupted" in res["text"]
        assert r.wait(60) == 0
        assert not alive(pid)
        assert os.listdir(tmp / "builds") == []
    finally:
        r.stop()
