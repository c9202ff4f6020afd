"""3. Checks: `r2k check` of 16 registries that each answer after 200 ms, against one
registry's check and against 16 sequential curl requests."""
import http.server
import subprocess
import threading
import time

import benchlib as b

NAME = "checks"
N = 16
DELAY = 0.2


class SlowRegistry(http.server.BaseHTTPRequestHandler):
    """GET /v2/ answers 200 with the registry API header, 200 ms after the request."""
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        time.sleep(DELAY)
        with self.server.lock:
            self.server.hits += 1
        ok = self.path == "/v2/"
        body = b"{}" if ok else b"not found"
        self.send_response(200 if ok else 404)
        self.send_header("Docker-Distribution-Api-Version", "registry/2.0")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Registries:
    """N threaded HTTP servers on loopback ports."""

    def __init__(self, n):
        self.servers = []
        for _ in range(n):
            s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), SlowRegistry)
            s.daemon_threads = True
            s.lock = threading.Lock()
            s.hits = 0
            threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.05},
                             daemon=True).start()
            self.servers.append(s)
        self.ports = [s.server_address[1] for s in self.servers]

    def hits(self):
        return sum(s.hits for s in self.servers)

    def close(self):
        for s in self.servers:
            s.shutdown()
            s.server_close()


def timed(cmd):
    t0 = b.now()
    p = b.spawn(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = p.stderr.read()
    p.stderr.close()
    rc, _ = b.reap(p)
    t = b.now() - t0
    if rc != 0:
        raise b.BenchError("%s exited %d: %s" % (" ".join(cmd[:3]), rc, err.decode()[-1000:]))
    return t


def run(ctx):
    regs = Registries(N)
    try:
        targets = ["127.0.0.1:%d/" % p for p in regs.ports]
        all16, one, curl = [], [], []
        h0 = regs.hits()
        timed([ctx.r2k, "check"] + targets)  # warm-up, and every target must pass
        if regs.hits() - h0 != N:
            raise b.BenchError("r2k check made %d requests for %d registries"
                               % (regs.hits() - h0, N))
        for i in range(ctx.runs):
            b.log("checks: run %d/%d" % (i + 1, ctx.runs))
            all16.append(timed([ctx.r2k, "check"] + targets))
            one.append(timed([ctx.r2k, "check", targets[i % N]]))
            t0 = b.now()
            for p in regs.ports:
                timed(["curl", "-sf", "-o", "/dev/null", "http://127.0.0.1:%d/v2/" % p])
            curl.append(b.now() - t0)
    finally:
        regs.close()
    ms = lambda ts: b.Series([t * 1000 for t in ts])  # noqa: E731
    return [
        b.Figure(NAME, "r2k check, 16 registries (200 ms each)", "ms", ms(all16),
                 "r2k check, 1 registry", ms(one), [("<=", 1.5, "ratio")], fmt="%.0f"),
        b.Figure(NAME, "r2k check, 16 registries (200 ms each)", "ms", ms(all16),
                 "16 sequential curl requests", ms(curl), fmt="%.0f"),
    ]
