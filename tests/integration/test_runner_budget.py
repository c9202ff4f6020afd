"""Requests still being received share one memory budget: r2k frames before a build slot
and legacy JSON lines."""
import os
import socket
import struct
import sys

import pytest

sys.path.insert(0, os.path.join(os.environ.get("R2K_SOURCE_DIR", "."), "tests", "lib"))
import builders  # noqa: E402
import r2kwire as w  # noqa: E402
from runnerproc import (remove_tmp_path, Runner, connect, get_metrics, legacy_build,  # noqa
                        metric, wait_for)

PART = 900 << 10  # of a 1 MiB frame or line: held in a 1 MiB buffer, 64 fill the 64 MiB


def held(r):
    return metric(get_metrics(r.addr), "r2k_request_buffer_bytes")


def r2k_part(addr, declared=1 << 20, part=PART):
    """An r2k connection that sends part of a REQUEST frame of the declared length."""
    s = connect(addr)
    s.sendall(w.preamble() + struct.pack(">HHI", w.REQUEST, 0, declared) + b" " * part)
    return s


def legacy_part(addr):
    s = connect(addr)
    s.sendall(b"{" + b" " * (PART - 1))
    return s


def read_error(s):
    res = w.read_result(s)
    assert res.preamble == w.preamble(), res.preamble
    return res.error


@pytest.fixture
def env(tmp_path):
    ws = tmp_path / "workspace"
    (ws / "ctx").mkdir(parents=True)
    exe = builders.script_executor(str(tmp_path), "echo built")
    r = Runner("--multiple", "--idle-timeout", "600", "--preflight", "off", "--executor", exe,
               "--shared-workspace", str(ws), "--workspace", str(tmp_path / "builds"))
    r.legacy_cmd = [exe, "--context", str(ws / "ctx")]
    yield r
    r.stop()


def test_requests_without_a_slot_share_the_budget(env):
    """r2k connections that send most of a 1 MiB REQUEST and stop, and legacy ones that
    send most of a line, hold at most 64 MiB together (each is seen held before the next
    comes). Beyond it an r2k request that needs buffering gets ERROR 5 (busy) and a
    legacy line is refused; once they are gone builds go through again."""
    r = env
    parts = []
    for i in range(64):
        parts.append((r2k_part if i % 2 else legacy_part)(r.addr))
        wait_for(lambda: held(r) == (i + 1) << 20, what="part %d held" % i)
    for declared, part in ((1 << 20, PART), (200 << 10, 200 << 10)):
        s = r2k_part(r.addr, declared, part)  # still sending when refused: read on, no reset
        code, message = read_error(s)
        s.shutdown(socket.SHUT_WR)
        assert w.wait_closed(s) == b""
        s.close()
        assert code == 5 and "busy receiving other requests" in message, message
    text, ok = legacy_build(r.addr, r.legacy_cmd)
    assert not ok and "busy receiving other requests" in text, text
    assert held(r) == 64 << 20
    for s in parts:
        s.close()
    wait_for(lambda: held(r) == 0, what="the buffers freed")
    data = w.make_tar([("Dockerfile", b"FROM scratch\n", 0o644)])
    # A request large enough to be assembled from several reads, now that there is room.
    req = {"build_args": ["PAD%d=" % i + "x" * (100 << 10) for i in range(3)]}
    res = w.build("tcp://%s:%d" % r.addr, req, data)
    assert res.exit == (0, 0, ""), (res.error, r.log)
    assert bytes(res.stdout) == b"built\n"
    text, ok = legacy_build(r.addr, r.legacy_cmd)
    assert ok, text
    assert held(r) == 0


def test_a_build_slot_ends_the_charge(env):
    """Once its REQUEST is accepted a build's frames no longer count against the budget:
    a context frame still being assembled when the budget fills up is not refused."""
    r = env
    data = w.make_tar([("Dockerfile", b"FROM scratch\n", 0o644),
                       ("big.bin", os.urandom(PART), 0o644)])
    s = w.connect("tcp://%s:%d" % r.addr)
    ctx = w.frame(w.CONTEXT, data)
    s.sendall(w.preamble() + w.request() + ctx[:100 << 10])
    wait_for(lambda: metric(get_metrics(r.addr), "r2k_active_builds") == 1, what="the slot")
    parts = []
    for i in range(64):
        parts.append(r2k_part(r.addr))
        wait_for(lambda: held(r) == (i + 1) << 20, what="part %d held" % i)
    s.sendall(ctx[100 << 10:] + w.context_end(data))
    res = w.read_result(s)
    s.close()
    for p in parts:
        p.close()
    assert res.exit == (0, 0, ""), (res.error, r.log)
    assert bytes(res.stdout) == b"built\n"


def vm_hwm_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(next(l for l in f if l.startswith("VmHWM:")).split()[1])


def test_many_partial_requests_hold_bounded_memory(tmp_path):
    """300 connections, each most of a 1 MiB REQUEST, all at once: the runner holds the
    64 MiB the budget allows (not 300 MiB), and every connection beyond it gets ERROR 5."""
    import select
    env = {"ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=16"}
    with Runner("--multiple", "--idle-timeout", "600", env=env) as r:
        socks = [r2k_part(r.addr) for _ in range(300)]
        for s in socks:
            assert w.recv_exact(s, 12) == w.preamble()  # answered at once
        refused = 0
        pending = list(socks)
        # Until every connection is either held (1 MiB each) or refused.
        while held(r) != (300 - refused) << 20:
            ready, _, _ = select.select(pending, [], [], 60)
            assert ready, "held %d bytes, %d refused:\n%s" % (held(r), refused, r.log[-3000:])
            for s in ready:
                t, payload = w.read_frame(s)
                code, message = struct.unpack(">H", payload[:2])[0], payload[2:].decode()
                assert t == w.ERROR and code == 5, (t, message)
                refused += 1
                pending.remove(s)
        assert held(r) <= 64 << 20 and refused >= 300 - 64
        peak = vm_hwm_kib(r.proc.pid)
        for s in socks:
            s.close()
    assert peak < 160 << 10, "runner peaked at %d KiB" % peak
