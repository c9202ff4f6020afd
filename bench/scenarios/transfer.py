"""1. Context transfer: a 500 MiB tree through r2k (TCP and unix socket) against a tar pipe;
the runner's peak RSS at about 100 MiB and 1 GiB of context, and with registry checks."""
import http.server
import os
import random
import shutil
import threading
import time

import benchlib as b

NAME = "transfer"
MiB = 1 << 20
GiB = 1 << 30


def big_sizes(n):
    """n sizes from 8 to 32 MiB, most near 8 MiB: 8 MiB + 24 MiB * (i / (n - 1)) ** 16."""
    return [(8 * MiB + int(24 * MiB * (i / (n - 1)) ** 16)) & ~1023 for i in range(n)]


def make_tree(root, ndirs, nsmall, nbig, seed=1):
    """ndirs directories of nsmall // ndirs files of 1-8 KiB each, plus nbig files of
    8-32 MiB spread over the first directories, and a Dockerfile. Returns the data bytes."""
    rnd = random.Random(seed)
    pool = rnd.randbytes(64 * MiB)
    os.makedirs(root)
    total = 0

    def put(path, size):
        with open(path, "wb") as f:
            left = size
            while left:
                n = min(left, 4 * MiB)
                off = rnd.randrange(0, len(pool) - n)
                f.write(pool[off:off + n])
                left -= n
        return size

    with open(os.path.join(root, "Dockerfile"), "w") as f:
        f.write("FROM scratch\nCOPY . /app\n")
    per_dir = nsmall // ndirs
    for d in range(ndirs):
        dpath = os.path.join(root, "d%03d" % d)
        os.mkdir(dpath)
        for i in range(per_dir):
            total += put(os.path.join(dpath, "f%03d.txt" % i), rnd.randint(1024, 8192))
    for i, size in enumerate(big_sizes(nbig)):
        total += put(os.path.join(root, "d%03d" % (i % ndirs), "big%02d.bin" % i), size)
    return total


def link_tree(src, dst):
    """A copy of src made of hard links (r2k sends each as a file of its own)."""
    shutil.copytree(src, dst, copy_function=os.link)


def tar_pipe(ctx, src):
    """`tar -cf - . | tar -xf -` of src into a fresh directory: (seconds, CPU seconds of
    both tars)."""
    dst = ctx.wd.sub("tar-dst")
    shutil.rmtree(dst, ignore_errors=True)
    os.mkdir(dst)
    t0 = b.now()
    p = b.spawn(["sh", "-c", 'tar -C "$1" -cf - . | tar -C "$2" -xf -', "sh", src, dst])
    rc, ru = b.reap(p)  # the shell's usage includes the tars it waited for
    t1 = b.now()
    if rc != 0:
        raise b.BenchError("tar pipe exited %d" % rc)
    shutil.rmtree(dst)
    return t1 - t0, ru.ru_utime + ru.ru_stime


class OpenRegistry(http.server.BaseHTTPRequestHandler):
    """GET /v2/ answers 200 with the registry API header: an open registry."""
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        ok = self.path == "/v2/"
        body = b"{}" if ok else b"not found"
        self.send_response(200 if ok else 404)
        self.send_header("Docker-Distribution-Api-Version", "registry/2.0")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def r2k_run(ctx, src, unix=False, registry=None):
    """One build of src by a fresh runner: (seconds to builder exec, to client exit,
    CPU seconds of client and runner to builder exec, runner VmHWM KiB, runner VmRSS KiB
    before the build). The client's CPU is counted to its exit (it idles after the exec).
    With registry (a loopback port), the build has a destination there and the runner
    checks it (reachability, auth), as it does by default; else --preflight off."""
    stamp = ctx.wd.sub("stamps", "transfer-%d" % time.monotonic_ns())
    listen = ["unix://" + ctx.wd.sub("r2k.sock")] if unix else ["tcp://127.0.0.1:0"]
    preflight = [] if registry else ["--preflight", "off"]
    extra = ["--destination", "127.0.0.1:%d/bench/app:1" % registry] if registry else []
    r = b.Runner(ctx.r2k, ctx.wd, ["--multiple", "--executor", ctx.standin, "--workspace",
                                   ctx.wd.sub("ws"), "--pass-env", "R2K_BENCH_STAMP"]
                 + preflight,
                 env={"R2K_BENCH_STAMP": stamp}, listen=listen, name="transfer")
    try:
        idle = r.status()["VmRSS"]
        cpu0 = r.cpu()
        t0, t1, rc, ru, err = b.run_client(ctx.r2k, r.addr or listen[0], src, extra)
        if rc != 0:
            raise b.BenchError("r2k client exited %d: %s\n%s" % (rc, err.decode()[-2000:],
                                                                 r.log()[-2000:]))
        hwm = r.status()["VmHWM"]
    finally:
        r.stop()
    stamps = b.read_stamps_cpu(stamp)
    if len(stamps) != 1:
        raise b.BenchError("the stand-in builder did not run once: %r" % stamps)
    t_exec, runner_cpu = stamps[0]
    cpu = runner_cpu - cpu0 + ru.ru_utime + ru.ru_stime
    return t_exec - t0, t1 - t0, cpu, hwm, idle


def run(ctx):
    figs = []
    b.log("transfer: generating the 500 MiB tree (20,000 files of 1-8 KiB, 44 of 8-32 MiB)")
    src = ctx.wd.sub("trees", "t500")
    size = make_tree(src, 200, 20000, 44)
    ctx.notes.append("transfer: tree of %.0f MiB of file data (20,000 files of 1–8 KiB in "
                     "200 directories, 44 files of %d–%d MiB)"
                     % (size / MiB, big_sizes(44)[0] // MiB, big_sizes(44)[-1] // MiB))
    tar_t, tcp_t, unix_t, tcp_exit, unix_exit, hwm500 = [], [], [], [], [], []
    tar_cpu, tcp_cpu, unix_cpu = [], [], []
    order = ["tar", "tcp", "unix"]
    for i in range(ctx.runs):
        for what in order[i % 3:] + order[:i % 3]:
            b.log("transfer: run %d/%d: %s" % (i + 1, ctx.runs, what))
            if what == "tar":
                t, cpu = tar_pipe(ctx, src)
                tar_t.append(t)
                tar_cpu.append(cpu)
            else:
                t_exec, t_exit, cpu, hwm, _ = r2k_run(ctx, src, unix=(what == "unix"))
                (tcp_t if what == "tcp" else unix_t).append(t_exec)
                (tcp_exit if what == "tcp" else unix_exit).append(t_exit)
                (tcp_cpu if what == "tcp" else unix_cpu).append(cpu)
                hwm500.append(hwm)
    mibs = lambda ts: b.Series([size / MiB / t for t in ts])  # noqa: E731
    tar = mibs(tar_t)
    ref = "tar -cf - | tar -xf -"
    figs.append(b.Figure(NAME, "throughput to builder exec, loopback TCP", "MiB/s", mibs(tcp_t),
                         ref, tar, [(">=", 0.9, "ratio")], fmt="%.0f"))
    figs.append(b.Figure(NAME, "throughput to builder exec, unix socket", "MiB/s",
                         mibs(unix_t), ref, tar, [(">=", 0.9, "ratio")], fmt="%.0f"))
    figs.append(b.Figure(NAME, "throughput to client exit (workspace removed), TCP", "MiB/s",
                         mibs(tcp_exit), ref, tar, fmt="%.0f"))
    per_gib = lambda cs: b.Series([c * GiB / size for c in cs])  # noqa: E731
    tar_c = per_gib(tar_cpu)
    figs.append(b.Figure(NAME, "CPU to builder exec, client + runner, TCP", "s/GiB",
                         per_gib(tcp_cpu), "CPU of both tars", tar_c, fmt="%.2f"))
    figs.append(b.Figure(NAME, "CPU to builder exec, client + runner, unix socket", "s/GiB",
                         per_gib(unix_cpu), "CPU of both tars", tar_c, fmt="%.2f"))

    b.log("transfer: generating the 100 MiB tree and the 1 GiB tree (hard links)")
    src100 = ctx.wd.sub("trees", "t100")
    size100 = make_tree(src100, 40, 4000, 8, seed=2)
    src1g = ctx.wd.sub("trees", "t1g")
    os.makedirs(src1g)
    link_tree(src, os.path.join(src1g, "a"))
    link_tree(src, os.path.join(src1g, "b"))
    shutil.copy(os.path.join(src, "Dockerfile"), src1g)
    size1g = 2 * size
    ctx.notes.append("transfer: peak RSS trees of %.0f MiB (4,000 files of 1–8 KiB, 8 of "
                     "8–32 MiB) and %.0f MiB (the 500 MiB tree twice, 40,000 + 88 files)"
                     % (size100 / MiB, size1g / MiB))
    idle, h100, h1g = [], [], []
    for i in range(ctx.runs):
        b.log("transfer: peak RSS run %d/%d" % (i + 1, ctx.runs))
        _, _, _, hwm, rss0 = r2k_run(ctx, src100)
        h100.append(hwm / 1024)
        idle.append(rss0 / 1024)
        _, _, _, hwm, _ = r2k_run(ctx, src1g)
        h1g.append(hwm / 1024)
    reg = http.server.ThreadingHTTPServer(("127.0.0.1", 0), OpenRegistry)
    reg.daemon_threads = True
    threading.Thread(target=reg.serve_forever, kwargs={"poll_interval": 0.05},
                     daemon=True).start()
    checked = []
    try:
        for i in range(ctx.runs):
            b.log("transfer: peak RSS with registry checks, run %d/%d" % (i + 1, ctx.runs))
            checked.append(r2k_run(ctx, src, registry=reg.server_address[1])[3] / 1024)
    finally:
        reg.shutdown()
        reg.server_close()
    figs.append(b.Figure(NAME, "runner peak RSS, 500 MiB context", "MiB",
                         b.Series([h / 1024 for h in hwm500]), None, None,
                         [("<=", 16, "value")]))
    figs.append(b.Figure(NAME, "runner peak RSS, 500 MiB context, registry checks", "MiB",
                         b.Series(checked), "without checks", b.Series([h / 1024 for h in hwm500]),
                         [("<=", 16, "value")]))
    figs.append(b.Figure(NAME, "runner peak RSS, %.0f MiB context" % (size100 / MiB), "MiB",
                         b.Series(h100), "runner RSS before the build", b.Series(idle),
                         [("<=", 16, "value")]))
    figs.append(b.Figure(NAME, "runner peak RSS, %.0f MiB context" % (size1g / MiB), "MiB",
                         b.Series(h1g), "peak RSS, %.0f MiB context" % (size100 / MiB),
                         b.Series(h100), [("<=", 16, "value"), ("<=", 1.1, "ratio")]))
    shutil.rmtree(ctx.wd.sub("trees"), ignore_errors=True)
    return figs
