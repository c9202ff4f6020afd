"""Socket activation (systemd-socket-activate), readiness notification and the unit files."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading

import pytest

SRC = os.environ.get("R2K_SOURCE_DIR", ".")
sys.path.insert(0, os.path.join(SRC, "tests", "lib"))
from runnerproc import (remove_tmp_path, R2K, Runner, connect, http_get, legacy_build, read_all,  # noqa
                        read_response, wait_for)

SSA = shutil.which("systemd-socket-activate")
pytestmark = pytest.mark.skipif(not SSA, reason="systemd-socket-activate not installed")

EXECUTOR = """#!/bin/sh
env > "%s/env"
echo built
"""


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def activated(listen, *args, accept=False, fdnames=None, env=None, extra_env=()):
    """Start `r2k runner` under systemd-socket-activate, which starts it on the first
    connection (that connection waits in the listening socket's backlog)."""
    wrap = [SSA]
    for l in listen:
        wrap += ["-l", l]
    if accept:
        wrap.append("-a")
    if fdnames:
        wrap.append("--fdname=" + ":".join(fdnames))
    for name in ("PATH", "R2K_TEST_DIR") + tuple(extra_env):
        wrap += ["-E", name]
    return Runner(*args, listen=False, wrap=wrap, env=env)


def workspace(tmp_path):
    ws = tmp_path / "ws"
    (ws / "ctx").mkdir(parents=True)
    exe = tmp_path / "executor"
    exe.write_text(EXECUTOR % tmp_path)
    exe.chmod(0o755)
    args = ("--executor", str(exe), "--shared-workspace", str(ws), "--workspace",
            str(tmp_path / "builds"))
    return exe, ws, args


def test_tcp(tmp_path):
    port = free_port()
    exe, ws, args = workspace(tmp_path)
    r = activated([f"127.0.0.1:{port}"], "--multiple", *args,
                  env={"R2K_TEST_DIR": str(tmp_path)})
    try:
        r.wait_log(r"Listening on 127.0.0.1:%d" % port)
        assert http_get(("127.0.0.1", port), "/healthz").status == 200
        r.wait_log(r"listening on systemd socket 3")
        text, ok = legacy_build(("127.0.0.1", port), [str(exe), "--context", str(ws / "ctx")])
        assert ok, text
        env = (tmp_path / "env").read_text()
        for var in ("LISTEN_PID=", "LISTEN_FDS=", "LISTEN_FDNAMES=", "NOTIFY_SOCKET="):
            assert var not in env, var + " leaked to the builder"
        assert "--listen" not in r.log
        r.signal(signal.SIGTERM)
        assert r.wait() == 0
    finally:
        r.stop()


def test_unix_socket_survives_runner(tmp_path):
    path = str(tmp_path / "r2k.sock")
    r = activated([path], "--multiple", env={"R2K_TEST_DIR": str(tmp_path)})
    try:
        r.wait_log(r"Listening on .*r2k.sock")
        s = connect(path)
        s.sendall(b"GET /readyz HTTP/1.1\r\nConnection: close\r\n\r\n")
        resp, _ = read_response(s)
        s.close()
        assert resp.status == 200
        r.wait_log(r"listening on systemd socket 3")
        r.signal(signal.SIGTERM)
        assert r.wait() == 0
    finally:
        r.stop()
    assert os.path.exists(path), "a socket systemd gave the runner is never unlinked"


def test_two_named_sockets(tmp_path):
    port = free_port()
    path = str(tmp_path / "named.sock")
    r = activated([f"127.0.0.1:{port}", path], "--multiple", fdnames=["web", "local"],
                  env={"R2K_TEST_DIR": str(tmp_path)})
    try:
        r.wait_log(r"Listening on .*named.sock")
        assert http_get(path, "/healthz").status == 200
        r.wait_log(r"listening on systemd socket 3 web")
        r.wait_log(r"listening on systemd socket 4 local")
        assert http_get(("127.0.0.1", port), "/healthz").status == 200
        assert http_get(path, "/healthz").status == 200
        r.signal(signal.SIGTERM)
        assert r.wait() == 0
    finally:
        r.stop()
    assert os.path.exists(path)


def test_accept_yes(tmp_path):
    port = free_port()
    exe, ws, args = workspace(tmp_path)
    r = activated([f"127.0.0.1:{port}"], *args, accept=True,
                  env={"R2K_TEST_DIR": str(tmp_path)})
    try:
        r.wait_log(r"Listening on 127.0.0.1:%d" % port)
        # Probes: one runner per connection, several requests on it, exits when it closes.
        s = connect(("127.0.0.1", port))
        rest = b""
        for path in ("/healthz", "/readyz", "/version"):
            s.sendall(f"GET {path} HTTP/1.1\r\n\r\n".encode())
            resp, rest = read_response(s, rest)
            assert resp.status == 200, path
        s.close()
        r.wait_log(r"Child \d+ died with code 0")
        # A build, then the runner for that connection exits with its status.
        n = r.log.count("died with code")
        text, ok = legacy_build(("127.0.0.1", port), [str(exe), "--context", str(ws / "ctx")])
        assert ok, text
        wait_for(lambda: r.log.count("died with code 0") == n + 1, what="child exit")
        assert "serving connection 3 passed by systemd" in r.log
        env = (tmp_path / "env").read_text()
        assert "LISTEN_FDS=" not in env and "LISTEN_PID=" not in env
    finally:
        r.stop()


def notify_socket(tmp_path):
    path = str(tmp_path / "notify")
    ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    ns.bind(path)
    ns.settimeout(60)
    return ns, path


def test_notify_ready_and_stopping(tmp_path):
    ns, path = notify_socket(tmp_path)
    port = free_port()
    r = activated([f"127.0.0.1:{port}"], "--multiple", extra_env=("NOTIFY_SOCKET",),
                  env={"R2K_TEST_DIR": str(tmp_path), "NOTIFY_SOCKET": path})
    try:
        r.wait_log(r"Listening on 127.0.0.1:%d" % port)
        assert http_get(("127.0.0.1", port), "/healthz").status == 200
        assert ns.recv(4096) == b"READY=1"
        r.signal(signal.SIGTERM)
        assert ns.recv(4096) == b"STOPPING=1"
        assert r.wait() == 0
    finally:
        r.stop()
        ns.close()


def test_notify_without_activation(tmp_path):
    ns, path = notify_socket(tmp_path)
    r = Runner("--multiple", env={"NOTIFY_SOCKET": path})
    try:
        assert ns.recv(4096) == b"READY=1"
        r.signal(signal.SIGTERM)
        assert ns.recv(4096) == b"STOPPING=1"
        assert r.wait() == 0
    finally:
        r.stop()
        ns.close()


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze missing")
def test_units_verify(tmp_path):
    unit_dir = os.path.join(SRC, "packaging", "systemd")
    names = sorted(n for n in os.listdir(unit_dir) if n.endswith((".socket", ".service")))
    assert set(names) >= {"r2k-runner.socket", "r2k-runner.service", "r2k-runner-once.socket",
                          "r2k-runner-once@.service"}
    for n in names:
        text = open(os.path.join(unit_dir, n)).read()
        (tmp_path / n).write_text(text.replace("/usr/bin/r2k", R2K))
    out = subprocess.run(["systemd-analyze", "verify", "--man=no"] +
                         [str(tmp_path / n) for n in names],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout + out.stderr == "", out.stdout + out.stderr
    svc = (tmp_path / "r2k-runner.service").read_text()
    assert "Type=notify" in svc and "--multiple" in svc
    assert "Accept=yes" in (tmp_path / "r2k-runner-once.socket").read_text()
    assert "Accept=no" in (tmp_path / "r2k-runner.socket").read_text()


def unit_settings(name):
    """KEY -> [values] of a unit file, continuation lines joined."""
    text = open(os.path.join(SRC, "packaging", "systemd", name)).read().replace("\\\n", " ")
    out = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith(("#", ";", "[")):
            k, v = line.split("=", 1)
            out.setdefault(k.strip(), []).append(v.strip())
    return out


@pytest.mark.parametrize("svc", ["r2k-runner.service", "r2k-runner-once@.service"])
def test_units_writable_paths_exist_at_start(svc):
    """ProtectSystem=strict with ReadWritePaths= of a path that does not exist fails the
    start (status 226/NAMESPACE), and a read-only /var/lib keeps buildah from creating its
    storage: every writable path must exist on a fresh host or be created first."""
    u = unit_settings(svc)
    assert u.get("ProtectSystem") == ["strict"]
    made = set()
    for cmd in u.get("ExecStartPre", []):
        argv = cmd.lstrip("+-@:!").split()
        if os.path.basename(argv[0]) == "mkdir":
            made |= {a for a in argv[1:] if a.startswith("/")}
    state = {"/var/lib/" + d for v in u.get("StateDirectory", []) for d in v.split()}
    for v in u.get("ReadWritePaths", []):
        for path in v.split():
            assert path.startswith("-") or path in made | state | {"/var/tmp"}, (
                svc + ": " + path + " may not exist when the unit starts")
    for cmd in u.get("ExecStartPre", []):
        assert cmd.startswith("+"), "ExecStartPre needs to run outside the sandbox: " + cmd


@pytest.mark.skipif(not shutil.which("systemd-sysusers"), reason="systemd-sysusers missing")
def test_socket_group_is_created_by_the_sysusers_file(tmp_path):
    groups = {g for n in ("r2k-runner.socket", "r2k-runner-once.socket")
              for g in unit_settings(n).get("SocketGroup", [])}
    assert groups, "the unix socket is meant for a group"
    (tmp_path / "etc").mkdir()
    out = subprocess.run(["systemd-sysusers", "--root", str(tmp_path),
                          os.path.join(SRC, "packaging", "systemd", "r2k.sysusers")],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    made = {l.split(":")[0] for l in (tmp_path / "etc" / "group").read_text().splitlines()}
    assert groups <= made, (groups, made)


@pytest.mark.skipif(os.path.exists(os.path.join(SRC, "src", "client_stub.c")) or
                    os.path.exists(os.path.join(SRC, "src", "session_stub.c")),
                    reason="needs the real client and runner session")
def test_accept_yes_r2k_client(tmp_path):
    port = free_port()
    exe, ws, args = workspace(tmp_path)
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM scratch\n")
    r = activated([f"127.0.0.1:{port}"], *args, "--preflight", "off", accept=True,
                  env={"R2K_TEST_DIR": str(tmp_path)})
    try:
        r.wait_log(r"Listening on 127.0.0.1:%d" % port)
        p = subprocess.run([R2K, "client", "--runner", f"tcp://127.0.0.1:{port}", "--context",
                            str(ctx), "--no-push", "--progress=never"],
                           capture_output=True, timeout=300)
        assert p.returncode == 0, (p.stdout, p.stderr, r.log)
        assert b"built" in p.stdout
        r.wait_log(r"Child \d+ died with code 0")
        env = (tmp_path / "env").read_text()
        for var in ("LISTEN_PID=", "LISTEN_FDS=", "LISTEN_FDNAMES="):
            assert var not in env
    finally:
        r.stop()


@pytest.mark.parametrize("kind", ["datagram", "seqpacket"])
def test_socket_that_is_not_a_stream_refused(tmp_path, kind):
    """A socket unit with ListenDatagram= or ListenSequentialPacket= by mistake: the runner
    says what is wrong and exits 2 instead of serving it as a connection."""
    if kind == "datagram":
        port = free_port()
        listen, opt = f"127.0.0.1:{port}", "--datagram"
    else:
        listen, opt = str(tmp_path / "seq.sock"), "--seqpacket"
    r = Runner(listen=False, wrap=[SSA, opt, "-l", listen, "-E", "PATH"])
    try:
        r.wait_log(r"Listening on")
        if kind == "datagram":
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            u.sendto(b"GET /healthz HTTP/1.1\r\n\r\n", ("127.0.0.1", port))
            u.close()
        else:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            s.connect(listen)
        assert r.wait(60) == 2
        assert "descriptor 3 from systemd is not a TCP or unix stream socket" in r.log
        assert "ListenStream=" in r.log
    finally:
        r.stop()


def test_fifo_from_systemd_refused(tmp_path):
    """ListenFIFO= passes a FIFO: not a socket; exit 2 with a message."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    fd = os.open(fifo, os.O_RDWR)
    try:
        p = subprocess.run(
            ["bash", "-c", 'LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" runner 3<&%d' % fd, R2K],
            pass_fds=(fd,), capture_output=True, text=True, timeout=60)
    finally:
        os.close(fd)
    assert p.returncode == 2, p.stderr
    assert "descriptor 3 from systemd is not a socket" in p.stderr


def test_listen_pid_of_another_process_ignored(tmp_path):
    """LISTEN_PID names the process systemd started: a runner started by a shell that did
    not exec it must not take the sockets (they are the shell's), and serves --listen."""
    port = free_port()
    exe, ws, args = workspace(tmp_path)
    shell = ("%s runner --listen tcp://127.0.0.1:0 --multiple %s & pid=$!; "
             "trap 'kill $pid; wait $pid; exit $?' TERM; wait $pid") % (R2K, " ".join(args))
    r = Runner(listen=False, wrap=[SSA, "-l", f"127.0.0.1:{port}", "-E", "PATH",
                                   "-E", "R2K_TEST_DIR", "sh", "-c", shell],
               env={"R2K_TEST_DIR": str(tmp_path)})
    try:
        r.wait_log(r"Listening on 127.0.0.1:%d" % port)
        trigger = socket.create_connection(("127.0.0.1", port))  # starts sh, and so the runner
        line = r.wait_log(r"listening on tcp://127\.0\.0\.1:\d+")
        own = ("127.0.0.1", int(line.rsplit(":", 1)[1]))
        assert "systemd socket" not in r.log
        text, ok = legacy_build(own, [str(exe), "--context", str(ws / "ctx")])
        assert ok, text
        env = (tmp_path / "env").read_text()
        for var in ("LISTEN_PID=", "LISTEN_FDS=", "LISTEN_FDNAMES="):
            assert var not in env, var + " leaked to the builder"
        trigger.close()
        r.signal(signal.SIGTERM)
        assert r.wait() == 0
    finally:
        r.stop()
