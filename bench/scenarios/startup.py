"""4. Start-up and idle: runner start to the first answered connection, and its idle RSS,
against a minimal C listener (the stand-in's --listen-once mode)."""
import errno
import socket
import subprocess
import time

import benchlib as b

NAME = "startup"


def first_answer(port, proc, timeout=30):
    """Connect (retrying while refused) and read the answer to GET /healthz; returns the time."""
    deadline = time.monotonic() + timeout
    while True:
        s = socket.socket()
        try:
            s.connect(("127.0.0.1", port))
            break
        except OSError as e:
            s.close()
            if e.errno != errno.ECONNREFUSED or time.monotonic() > deadline \
                    or proc.poll() is not None:
                raise b.BenchError("cannot connect to port %d: %s" % (port, e))
            time.sleep(0.0005)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
    data = s.recv(4096)
    t = b.now()
    s.close()
    if not data.startswith(b"HTTP/1.1 200"):
        raise b.BenchError("unexpected answer %r" % data[:100])
    return t


def measure(ctx, argv, settle=0.3):
    """Start argv(port): (seconds from start to the first answer, then VmRSS, RssAnon and
    RssFile in KiB once idle)."""
    logf = open(ctx.wd.sub("logs", "startup-%d.log" % time.monotonic_ns()), "wb")
    port = b.free_port()
    cmd = argv(port)
    t0 = b.now()
    p = b.spawn(cmd, stdout=subprocess.DEVNULL, stderr=logf)
    try:
        t1 = first_answer(port, p)
        time.sleep(settle)
        st = b.proc_status(p.pid)
    finally:
        p.terminate()
        p.wait()
        b.forget(p)
        logf.close()
    return t1 - t0, st["VmRSS"], st.get("RssAnon", 0), st.get("RssFile", 0)


def run(ctx):
    runner = lambda port: [ctx.r2k, "runner", "--listen", "tcp://127.0.0.1:%d" % port,  # noqa
                           "--executor", ctx.standin, "--workspace", ctx.wd.sub("ws"),
                           "--preflight", "off"]
    ref = lambda port: [ctx.standin, "--listen-once", str(port)]  # noqa: E731
    rt, rr, ra, rf, lt, lr = [], [], [], [], [], []
    for i in range(ctx.runs):
        b.log("startup: run %d/%d" % (i + 1, ctx.runs))
        t, rss, anon, filed = measure(ctx, runner)
        rt.append(t * 1000)
        rr.append(rss / 1024)
        ra.append(anon / 1024)
        rf.append(filed / 1024)
        t, rss, _, _ = measure(ctx, ref)
        lt.append(t * 1000)
        lr.append(rss / 1024)
    ref_name = "minimal C listener"
    return [
        b.Figure(NAME, "runner start to first answered connection", "ms", b.Series(rt),
                 ref_name, b.Series(lt)),
        b.Figure(NAME, "runner idle RSS", "MiB", b.Series(rr), ref_name, b.Series(lr),
                 [("<=", 4, "value")]),
        b.Figure(NAME, "runner idle RSS: anonymous memory", "MiB", b.Series(ra), None, None),
        b.Figure(NAME, "runner idle RSS: file pages (binary and libraries)", "MiB",
                 b.Series(rf), None, None),
    ]
