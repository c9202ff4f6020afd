"""The runner's HTTP front: endpoints, errors, keep-alive, pipelining, metrics, readiness."""
import json
import os
import socket
import sys
import threading
import time

import pytest

sys.path.insert(0, os.path.join(os.environ.get("R2K_SOURCE_DIR", "."), "tests", "lib"))
from runnerproc import (remove_tmp_path, Runner, connect, get_metrics, http_get, legacy_build, metric,  # noqa
                        parse_prometheus, read_all, read_response, wait_for)

BLOCKING_EXECUTOR = """#!/bin/sh
# Stand-in executor: says it started, then waits until the test releases it.
: "${R2K_TEST_DIR:?}"
echo started > "$R2K_TEST_DIR/started"
while [ ! -e "$R2K_TEST_DIR/release" ]; do sleep 0.05; done
echo "built $*"
"""


@pytest.fixture
def runner():
    with Runner("--multiple") as r:
        yield r


def test_endpoints(runner):
    r = http_get(runner.addr, "/healthz")
    assert (r.status, r.body) == (200, b"ok\n")
    r = http_get(runner.addr, "/readyz")
    assert (r.status, r.body) == (200, b"ready\n")
    r = http_get(runner.addr, "/version")
    assert r.status == 200 and r.header("content-type") == "application/json"
    v = json.loads(r.body)
    assert v["name"] == "r2k" and v["protocol"] == 1 and v["mode"] == "multiple"
    assert v["version"]
    r = http_get(runner.addr, "/metrics")
    assert r.status == 200
    assert r.header("content-type").startswith("text/plain; version=0.0.4")
    parse_prometheus(r.body.decode())
    r = http_get(runner.addr, "/healthz?probe=1")
    assert r.status == 200
    r = http_get(runner.addr, "/healthz", method="HEAD")
    assert r.status == 200 and r.header("content-length") == "3"


def test_not_found_and_method_not_allowed(runner):
    r = http_get(runner.addr, "/nope")
    assert r.status == 404
    for path in ("/healthz", "/readyz", "/metrics", "/version"):
        r = http_get(runner.addr, path, method="POST", extra="Content-Length: 0\r\n")
        assert r.status == 405, path
        assert r.header("allow") == "GET, HEAD"
    r = http_get(runner.addr, "/healthz", method="DELETE")
    assert r.status == 405


def test_malformed_request_is_400_and_closed(runner):
    for raw in (b"GARBAGE / HTTP/1.1\r\n\r\n", b"GET /healthz HTTP/9.9\r\n\r\n",
                b"GET /healthz HTTP/1.1\r\nBad Header\r\n\r\n"):
        s = connect(runner.addr)
        s.sendall(raw + b"GET /healthz HTTP/1.1\r\n\r\n")
        r, rest = read_response(s)
        assert r.status == 400, raw
        assert r.header("connection") == "close"
        assert rest + read_all(s) == b"", "nothing after the 400: connection closed"
        s.close()


def test_header_too_large_is_431_and_closed(runner):
    s = connect(runner.addr)
    s.sendall(b"GET /healthz HTTP/1.1\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n")
    r, rest = read_response(s)
    assert r.status == 431
    assert rest + read_all(s) == b""
    s.close()
    # Many small headers add up too.
    s = connect(runner.addr)
    s.sendall(b"GET /healthz HTTP/1.1\r\n" + b"X: y\r\n" * 3000 + b"\r\n")
    r, _ = read_response(s)
    assert r.status == 431
    s.close()
    # Below the cap is fine.
    r = http_get(runner.addr, "/healthz", extra="X-Ok: " + "a" * 8000 + "\r\n")
    assert r.status == 200


def test_uri_too_long(runner):
    r = http_get(runner.addr, "/" + "a" * 5000)
    assert r.status == 414


def test_body_discarded_and_capped(runner):
    s = connect(runner.addr)
    body = b"x" * 1000
    s.sendall(b"POST /nope HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % len(body) + body +
              b"GET /healthz HTTP/1.1\r\n\r\n")
    r1, rest = read_response(s)
    r2, rest = read_response(s, rest)
    assert (r1.status, r2.status) == (404, 200)
    s.close()
    s = connect(runner.addr)
    big = 200 * 1024
    s.sendall(b"POST /healthz HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % big)
    try:
        s.sendall(b"y" * big)
    except OSError:
        pass  # the runner may close before all of it is sent
    r, _ = read_response(s)
    assert r.status == 413
    s.close()


def test_keep_alive_several_requests(runner):
    s = connect(runner.addr)
    rest = b""
    for path, want in (("/healthz", 200), ("/readyz", 200), ("/nope", 404), ("/version", 200),
                       ("/metrics", 200)):
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
        r, rest = read_response(s, rest)
        assert r.status == want
        assert r.header("connection") == "keep-alive"
    s.sendall(b"GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n")
    r, rest = read_response(s, rest)
    assert r.status == 200 and r.header("connection") == "close"
    assert rest + read_all(s) == b""
    s.close()


def test_http_1_0(runner):
    s = connect(runner.addr)
    s.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
    r, rest = read_response(s)
    assert r.status == 200 and r.header("connection") == "close"
    assert rest + read_all(s) == b""
    s.close()
    s = connect(runner.addr)
    s.sendall(b"GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    r, rest = read_response(s)
    assert r.status == 200 and r.header("connection") == "keep-alive"
    s.sendall(b"GET /readyz HTTP/1.0\r\n\r\n")
    r, rest = read_response(s, rest)
    assert r.status == 200
    assert rest + read_all(s) == b""
    s.close()


def test_pipelined_requests(runner):
    s = connect(runner.addr)
    s.sendall(b"GET /healthz HTTP/1.1\r\n\r\nGET /nope HTTP/1.1\r\n\r\n"
              b"HEAD /version HTTP/1.1\r\n\r\nGET /readyz HTTP/1.1\r\nConnection: close\r\n\r\n"
              b"GET /healthz HTTP/1.1\r\n\r\n")
    r1, rest = read_response(s)
    r2, rest = read_response(s, rest)
    r3, rest = read_response(s, rest, head=True)
    r4, rest = read_response(s, rest)
    assert [r.status for r in (r1, r2, r3, r4)] == [200, 404, 200, 200]
    assert r4.body == b"ready\n"
    assert rest + read_all(s) == b"", "requests after Connection: close are not answered"
    s.close()


def test_upgrade_not_offered(runner):
    for raw in (b"GET /healthz HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n",
                b"CONNECT /healthz HTTP/1.1\r\n\r\n"):
        s = connect(runner.addr)
        s.sendall(raw + b"GET /healthz HTTP/1.1\r\n\r\n")
        r, rest = read_response(s)
        assert r.status in (200, 405) and r.header("connection") == "close"
        assert rest + read_all(s) == b""
        s.close()


def test_idle_connection_closed():
    with Runner("--multiple", "--idle-timeout", "1") as runner:
        s = connect(runner.addr, timeout=60)
        s.sendall(b"GET /healthz HTTP/1.1\r\n\r\n")
        r, rest = read_response(s)
        assert r.status == 200
        assert rest + read_all(s) == b""  # closed by the runner, not by us
        s.close()
        s = connect(runner.addr, timeout=60)
        s.sendall(b"GET /healthz HTTP/1.1\r\nX-Slow: ")  # never finished
        assert read_all(s) == b""
        s.close()


def test_metrics_counters_move(runner, tmp_path):
    before = get_metrics(runner.addr)
    proto = lambda f, p: metric(f, "r2k_connections_total", protocol=p)  # noqa: E731
    # One connection of each protocol.
    s = connect(runner.addr)
    # Preamble, then a CONTEXT frame where REQUEST must come first: ERROR 1 and close.
    s.sendall(b"\x89R2K\r\n\x1a\n\x00\x01\x00\x00" + b"\x01\x02\x00\x00\x00\x00\x00\x00")
    assert read_all(s).startswith(b"\x89R2K")
    s.close()
    text, ok = legacy_build(runner.addr, ["/nonexistent/executor"])
    assert not ok and "refused" in text
    s = connect(runner.addr)
    s.sendall(b"\x00hello")
    assert read_all(s) == b"r2k: unrecognised protocol\n"
    s.close()
    after = get_metrics(runner.addr)
    for p in ("r2k", "legacy", "unknown"):
        assert proto(after, p) == proto(before, p) + 1, p
    assert proto(after, "http") == proto(before, "http") + 1  # the second /metrics
    for fam in ("r2k_builds_started_total", "r2k_builds_succeeded_total",
                "r2k_builds_failed_total", "r2k_context_bytes_received_total",
                "r2k_output_bytes_relayed_total", "r2k_connections_total",
                "r2k_check_results_total"):
        assert after[fam]["type"] == "counter" and after[fam]["help"], fam
    assert after["r2k_active_builds"]["type"] == "gauge"
    assert after["r2k_build_duration_seconds"]["type"] == "histogram"
    kinds = {l["kind"] for n, l, v in after["r2k_check_results_total"]["samples"]}
    assert {"reachability", "auth", "push", "cache", "base_image", "cache_dir",
            "warm"} <= kinds


def test_metrics_after_builds(tmp_path):
    ws = tmp_path / "ws"
    (ws / "ctx").mkdir(parents=True)
    exe = tmp_path / "executor"
    exe.write_text("#!/bin/sh\necho building\n[ -z \"$FAIL\" ] || exit 3\n")
    exe.chmod(0o755)
    with Runner("--multiple", "--executor", str(exe), "--shared-workspace", str(ws),
                "--workspace", str(tmp_path / "builds")) as runner:
        cmd = [str(exe), "--context", str(ws / "ctx")]
        text, ok = legacy_build(runner.addr, cmd)
        assert ok, text
        f = get_metrics(runner.addr)
        assert metric(f, "r2k_builds_started_total") == 1
        assert metric(f, "r2k_builds_succeeded_total") == 1
        assert metric(f, "r2k_builds_failed_total") == 0
        assert metric(f, "r2k_output_bytes_relayed_total") >= len("building\n")
        assert metric(f, "r2k_build_duration_seconds_count") == 1
        assert metric(f, "r2k_active_builds") == 0
        buckets = [(l["le"], v) for n, l, v in f["r2k_build_duration_seconds"]["samples"]
                   if n.endswith("_bucket")]
        les = [b[0] for b in buckets]
        assert les == ["1", "5", "10", "30", "60", "120", "300", "600", "1200", "1800", "3600",
                       "+Inf"]
        values = [b[1] for b in buckets]
        assert values == sorted(values), "buckets are cumulative"
        assert values[-1] == 1


def test_readyz_single_shot_and_probes_do_not_consume(tmp_path):
    ws = tmp_path / "ws"
    (ws / "ctx").mkdir(parents=True)
    exe = tmp_path / "executor"
    exe.write_text(BLOCKING_EXECUTOR)
    exe.chmod(0o755)
    env = {"R2K_TEST_DIR": str(tmp_path)}
    runner = Runner("--executor", str(exe), "--shared-workspace", str(ws),
                    "--workspace", str(tmp_path / "builds"), env=env)
    try:
        for _ in range(5):
            assert http_get(runner.addr, "/readyz").status == 200
            assert http_get(runner.addr, "/healthz").status == 200
            assert http_get(runner.addr, "/metrics").status == 200
        assert runner.proc.poll() is None, "probes do not end a single-shot runner"
        result = {}
        t = threading.Thread(target=lambda: result.update(
            zip(("text", "ok"), legacy_build(runner.addr, [str(exe), "--context",
                                                           str(ws / "ctx")]))))
        t.start()
        wait_for(lambda: (tmp_path / "started").exists(), what="builder start")
        r = http_get(runner.addr, "/readyz")
        assert r.status == 503 and b"single build" in r.body
        assert http_get(runner.addr, "/healthz").status == 200
        text, ok = legacy_build(runner.addr, [str(exe), "--context", str(ws / "ctx")])
        assert not ok and "busy" in text
        (tmp_path / "release").write_text("")
        t.join(120)
        assert result["ok"], result["text"]
        assert runner.wait(60) == 0
    finally:
        runner.stop()


# Requests that frontends and back ends may frame differently (request smuggling), and
# other shapes RFC 9112 tells a server to refuse; llhttp's lenient modes stay off, and
# what llhttp itself lets through (whitespace before a colon, obsolete line folding,
# HTTP/0.9) is refused by the runner.
SMUGGLING = {
    "te-and-cl": b"POST /healthz HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
                 b"Content-Length: 5\r\n\r\n0\r\n\r\n",
    "two-cl": b"POST /healthz HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
    "te-not-chunked-last": b"POST /healthz HTTP/1.1\r\nTransfer-Encoding: chunked, identity\r\n"
                           b"\r\n0\r\n\r\n",
    "te-unknown": b"POST /healthz HTTP/1.1\r\nTransfer-Encoding: xchunked\r\n\r\n",
    "space-before-colon": b"GET /healthz HTTP/1.1\r\nHost : x\r\n\r\n",
    "tab-before-colon": b"GET /healthz HTTP/1.1\r\nX-Forwarded-For\t: x\r\n\r\n",
    "te-space-before-colon": b"POST /healthz HTTP/1.1\r\nTransfer-Encoding : chunked\r\n\r\n"
                             b"0\r\n\r\n",
    "obs-fold": b"GET /healthz HTTP/1.1\r\nX-A: a\r\n b\r\n\r\n",
    "obs-fold-tab": b"GET /healthz HTTP/1.1\r\nX-A: a\r\n\tb\r\n\r\n",
    "obs-fold-empty-value": b"GET /healthz HTTP/1.1\r\nX-A:\r\n b\r\n\r\n",
    "obs-fold-connection": b"GET /healthz HTTP/1.1\r\nConnection: keep-alive\r\n close\r\n\r\n",
    "obs-fold-te": b"POST /healthz HTTP/1.1\r\nTransfer-Encoding: gzip\r\n chunked\r\n\r\n",
    "bare-lf": b"GET /healthz HTTP/1.1\nHost: x\n\n",
    "bare-lf-in-header": b"GET /healthz HTTP/1.1\r\nHost: x\n\r\n",
    "bare-cr": b"GET /healthz HTTP/1.1\r\nHost: x\ry: z\r\n\r\n",
    "http-0.9": b"GET /healthz\r\n\r\n",
    "nul-in-header": b"GET /healthz HTTP/1.1\r\nX: a\x00b\r\n\r\n",
    "space-before-first-header": b"GET /healthz HTTP/1.1\r\n Host: x\r\n\r\n",
}


@pytest.mark.parametrize("byte_at_a_time", [False, True], ids=["whole", "bytewise"])
@pytest.mark.parametrize("name", sorted(SMUGGLING))
def test_smuggling_shapes_are_400_and_closed(runner, name, byte_at_a_time):
    s = connect(runner.addr)
    raw = SMUGGLING[name] + b"GET /healthz HTTP/1.1\r\n\r\n"
    try:
        if byte_at_a_time:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for i in range(len(raw)):
                s.send(raw[i:i + 1])
        else:
            s.sendall(raw)
    except OSError:
        pass  # the runner may have answered and closed before the rest arrived
    r, rest = read_response(s)
    assert r.status == 400, (name, r.status, r.body)
    assert r.header("connection") == "close"
    assert rest + read_all(s) == b"", "nothing after the 400: connection closed"
    s.close()


@pytest.mark.parametrize("byte_at_a_time", [False, True], ids=["whole", "bytewise"])
def test_ordinary_header_shapes_accepted(runner, byte_at_a_time):
    """What the refusals above must not catch: spaces and tabs inside and around values,
    empty values, list values, quoted strings, a body, the absolute form."""
    reqs = (b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-A: a b  c  \r\nX-B:   b\r\nX-C:\r\n"
            b"X-D: \r\nX-E:\t\te\t\r\nAccept: text/plain, */*;q=0.1\r\nX-F: \"q , x\"\r\n\r\n",
            b"POST /nope HTTP/1.1\r\nContent-Length: 9\r\n\r\nX: a\r\n b\r\n",
            b"POST /nope HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n0\r\n\r\n",
            b"GET http://runner.example:9000/readyz?x=1 HTTP/1.1\r\nHost: runner.example\r\n\r\n",
            b"GET HTTPS://runner.example HTTP/1.1\r\n\r\n")
    s = connect(runner.addr)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    raw = b"".join(reqs)
    if byte_at_a_time:
        for i in range(len(raw)):
            s.send(raw[i:i + 1])
    else:
        s.sendall(raw)
    rest = b""
    got = []
    for _ in reqs:
        r, rest = read_response(s, rest)
        got.append((r.status, r.header("connection")))
    assert got == [(200, "keep-alive"), (404, "keep-alive"), (404, "keep-alive"),
                   (200, "keep-alive"), (404, "keep-alive")]
    s.close()


def test_slowloris_headers_closed_at_idle_timeout():
    """Headers sent a byte at a time: progress does not extend --idle-timeout."""
    with Runner("--multiple", "--idle-timeout", "1") as runner:
        s = connect(runner.addr, timeout=60)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        raw = b"GET /healthz HTTP/1.1\r\n" + b"X-Slow: 1\r\n" * 1000 + b"\r\n"
        closed = False
        try:
            for i in range(len(raw)):
                s.send(raw[i:i + 1])
                time.sleep(0.01)  # the whole request would take over 100 s
        except OSError:
            closed = True
        if not closed:
            assert read_all(s) == b""
        s.close()
        assert "http: closing idle connection" in runner.log or closed


def strict_exposition(text):
    """Validate Prometheus text format 0.0.4 more strictly than parse_prometheus: every
    family has one HELP and one TYPE before its samples, families are contiguous, series are
    unique, values are numbers (counters non-negative), and a histogram has buckets with
    increasing le ending in +Inf, cumulative counts, _sum, and _count equal to +Inf."""
    assert text.endswith("\n") and "\n\n" not in text and "\r" not in text
    fams = parse_prometheus(text)
    seen_help, seen_type, order, series = set(), set(), [], set()
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name = line.split(" ")[2]
            assert name not in seen_help, "second HELP for " + name
            seen_help.add(name)
        elif line.startswith("# TYPE "):
            name = line.split(" ")[2]
            assert name not in seen_type, "second TYPE for " + name
            assert name in seen_help, "TYPE before HELP for " + name
            seen_type.add(name)
            assert name not in order, "family split: " + name
            order.append(name)
    for name, fam in fams.items():
        assert fam["type"] and fam["help"], name
        assert fam["samples"], "family without samples: " + name
        for n, labels, v in fam["samples"]:
            key = (n, tuple(sorted(labels.items())))
            assert key not in series, "duplicate series %r" % (key,)
            series.add(key)
            assert v == v, "NaN in " + n
            if fam["type"] in ("counter", "histogram"):
                assert v >= 0, n
        if fam["type"] == "counter":
            assert name.endswith("_total"), name
            assert all(n == name for n, _, _ in fam["samples"]), name
        if fam["type"] == "histogram":
            buckets = [(l["le"], v) for n, l, v in fam["samples"] if n == name + "_bucket"]
            assert buckets and buckets[-1][0] == "+Inf", name
            bounds = [float(le) for le, _ in buckets[:-1]]
            assert bounds == sorted(bounds) and len(set(bounds)) == len(bounds), name
            counts = [v for _, v in buckets]
            assert counts == sorted(counts), "buckets of %s are not cumulative" % name
            sums = [v for n, _, v in fam["samples"] if n == name + "_sum"]
            cnt = [v for n, _, v in fam["samples"] if n == name + "_count"]
            assert len(sums) == 1 and len(cnt) == 1, name
            assert cnt[0] == counts[-1], "%s_count differs from the +Inf bucket" % name
            assert sums[0] >= 0
    return fams


def test_metrics_exposition_strict(tmp_path):
    ws = tmp_path / "ws"
    (ws / "ctx").mkdir(parents=True)
    exe = tmp_path / "executor"
    exe.write_text("#!/bin/sh\necho building\n[ ! -e \"$0.fail\" ] || exit 3\n")
    exe.chmod(0o755)
    with Runner("--multiple", "--executor", str(exe), "--shared-workspace", str(ws),
                "--workspace", str(tmp_path / "builds")) as runner:
        strict_exposition(http_get(runner.addr, "/metrics").body.decode())
        cmd = [str(exe), "--context", str(ws / "ctx")]
        assert legacy_build(runner.addr, cmd)[1]
        (tmp_path / "executor.fail").write_text("")
        assert not legacy_build(runner.addr, cmd)[1]
        assert not legacy_build(runner.addr, ["/bin/sh"])[1]
        fams = strict_exposition(http_get(runner.addr, "/metrics").body.decode())
        assert metric(fams, "r2k_build_duration_seconds_count") == 2
        assert metric(fams, "r2k_builds_failed_total") == 1
        r = http_get(runner.addr, "/metrics", method="HEAD")
        assert r.status == 200 and int(r.header("content-length")) > 0


def test_pipelined_requests_answered_in_order_when_client_reads_late(runner):
    """Thousands of pipelined requests sent before reading any answer: the runner stops
    parsing while the answers pile up, and goes on once they are read; all come, in order."""
    paths = ["/healthz", "/nope", "/readyz", "/version"] * 750
    raw = b"".join(b"GET %s HTTP/1.1\r\n\r\n" % p.encode() for p in paths)
    s = connect(runner.addr)
    sender = threading.Thread(target=s.sendall, args=(raw,))
    sender.start()
    rest = b""
    want = {"/healthz": 200, "/nope": 404, "/readyz": 200, "/version": 200}
    for p in paths:
        r, rest = read_response(s, rest)
        assert r.status == want[p], p
    sender.join(60)
    s.sendall(b"GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n")
    r, rest = read_response(s, rest)
    assert r.status == 200 and rest + read_all(s) == b""
    s.close()


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))


def test_unread_pipelined_answers_do_not_pile_up_in_memory(runner):
    """Clients that pipeline /metrics requests and never read: each may cost the runner a
    bounded amount of memory (it used to be about 6 MiB per connection)."""
    with open(f"/proc/{runner.proc.pid}/maps") as f:
        if "libasan" in f.read():
            pytest.skip("AddressSanitizer keeps freed memory in quarantine")
    before = rss_kib(runner.proc.pid)
    raw = b"GET /metrics HTTP/1.1\r\n\r\n" * 8000
    socks = []
    for _ in range(40):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(runner.addr)
        s.setblocking(False)
        try:
            s.send(raw)
        except BlockingIOError:
            pass
        socks.append(s)
    for _ in range(3):  # the loop has gone round: every connection was read
        assert http_get(runner.addr, "/healthz").status == 200
    grown = rss_kib(runner.proc.pid) - before
    for s in socks:
        s.close()
    assert grown < 64 * 1024, f"runner grew by {grown} KiB for 40 connections"


def test_descriptor_exhaustion_neither_spins_nor_kills_the_runner():
    """More connections than the runner may have descriptors for: those beyond are closed
    at once (not left hanging, no accept loop), and the runner serves again afterwards."""
    with Runner("--multiple", "--idle-timeout", "600",
                wrap=["prlimit", "--nofile=64", "--"]) as runner:
        held = []
        for _ in range(200):
            held.append(connect(runner.addr))
        probe = connect(runner.addr, timeout=30)
        try:
            probe.sendall(b"GET /healthz HTTP/1.1\r\n\r\n")
            assert probe.recv(4096) == b"", "accepted and closed while out of descriptors"
        except (ConnectionResetError, BrokenPipeError):
            pass
        probe.close()
        assert runner.proc.poll() is None
        for s in held:
            s.close()

        def healthy():
            try:
                return http_get(runner.addr, "/healthz").status == 200
            except OSError:
                return False  # the closes are not all seen yet
        wait_for(healthy, what="serving again")
