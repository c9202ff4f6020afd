"""2. Output relay: a stand-in builder writes 256 MiB of log lines on stdout and stderr,
relayed to a client that discards them, against `standin 2>&1 | cat | cat >/dev/null`."""
import os
import subprocess
import time

import benchlib as b

NAME = "output"
TOTAL = 256 << 20
GiB = 1 << 30


def cpu(ru):
    return ru.ru_utime + ru.ru_stime


def context(ctx):
    d = ctx.wd.sub("ctx-output", "Dockerfile")
    with open(d, "w") as f:
        f.write("FROM scratch\n")
    return os.path.dirname(d)


def r2k_run(ctx, src, verify=False):
    """One relay through a fresh runner: (seconds from builder exec to client exit,
    runner CPU seconds, client CPU seconds)."""
    stamp = ctx.wd.sub("stamps", "output-%d" % time.monotonic_ns())
    r = b.Runner(ctx.r2k, ctx.wd, ["--multiple", "--executor", ctx.standin, "--workspace",
                                   ctx.wd.sub("ws"), "--preflight", "off",
                                   "--pass-env", "R2K_BENCH_STAMP",
                                   "--pass-env", "R2K_BENCH_OUTPUT"],
                 env={"R2K_BENCH_STAMP": stamp, "R2K_BENCH_OUTPUT": str(TOTAL)}, name="output")
    try:
        if verify:
            out_path, err_path = ctx.wd.sub("out.txt"), ctx.wd.sub("err.txt")
            with open(out_path, "wb") as o, open(err_path, "wb") as e:
                _, _, rc, _, _ = b.run_client(ctx.r2k, r.addr, src, stdout=o, stderr=e)
            with open(err_path, "rb") as e:
                ours = sum(len(l) for l in e if l.startswith(b"r2k: "))
            got = os.path.getsize(out_path) + os.path.getsize(err_path) - ours
            os.unlink(out_path)
            os.unlink(err_path)
            if rc != 0 or got != TOTAL:
                raise b.BenchError("relay check: status %d, %d bytes of output, want %d"
                                   % (rc, got, TOTAL))
            return None
        c0 = r.cpu()
        _, t1, rc, ru, _ = b.run_client(ctx.r2k, r.addr, src, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        c1 = r.cpu()
        if rc != 0:
            raise b.BenchError("r2k client exited %d:\n%s" % (rc, r.log()[-2000:]))
    finally:
        r.stop()
    stamps = b.read_stamps(stamp)
    return t1 - stamps[-1], c1 - c0, cpu(ru)


def pipe_run(ctx):
    """standin 2>&1 | cat | cat > /dev/null: (seconds from exec to the last cat's exit,
    first cat's CPU seconds, second cat's CPU seconds)."""
    stamp = ctx.wd.sub("stamps", "output-ref-%d" % time.monotonic_ns())
    env = dict(os.environ, R2K_BENCH_STAMP=stamp, R2K_BENCH_OUTPUT=str(TOTAL))
    gen = b.spawn([ctx.standin], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    cat1 = b.spawn(["cat"], stdin=gen.stdout, stdout=subprocess.PIPE)
    cat2 = b.spawn(["cat"], stdin=cat1.stdout, stdout=subprocess.DEVNULL)
    gen.stdout.close()
    cat1.stdout.close()
    rc2, ru2 = b.reap(cat2)
    t1 = b.now()
    rc1, ru1 = b.reap(cat1)
    rc0, _ = b.reap(gen)
    if rc0 or rc1 or rc2:
        raise b.BenchError("reference pipe failed: %d %d %d" % (rc0, rc1, rc2))
    return t1 - b.read_stamps(stamp)[-1], cpu(ru1), cpu(ru2)


def alone_run(ctx):
    """The stand-in alone, both streams to /dev/null: (seconds, its CPU seconds)."""
    env = dict(os.environ, R2K_BENCH_OUTPUT=str(TOTAL))
    t0 = b.now()
    p = b.spawn([ctx.standin], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    rc, ru = b.reap(p)
    return b.now() - t0, cpu(ru)


def run(ctx):
    src = context(ctx)
    b.log("output: checking that every byte arrives")
    r2k_run(ctx, src, verify=True)
    rt, rcpu, ccpu, pt, p1, p2, at, acpu = [], [], [], [], [], [], [], []
    for i in range(ctx.runs):
        b.log("output: run %d/%d" % (i + 1, ctx.runs))
        for what in (["r2k", "ref"] if i % 2 == 0 else ["ref", "r2k"]):
            if what == "r2k":
                t, c, cc = r2k_run(ctx, src)
                rt.append(t)
                rcpu.append(c)
                ccpu.append(cc)
            else:
                t, c1, c2 = pipe_run(ctx)
                pt.append(t)
                p1.append(c1)
                p2.append(c2)
        t, c = alone_run(ctx)
        at.append(t)
        acpu.append(c)
    mibs = lambda ts: b.Series([TOTAL / (1 << 20) / t for t in ts])  # noqa: E731
    per_gib = lambda cs: b.Series([c * GiB / TOTAL for c in cs])  # noqa: E731
    ref = "standin 2>&1 | cat | cat"
    return [
        b.Figure(NAME, "throughput, builder exec to client exit", "MiB/s", mibs(rt), ref,
                 mibs(pt), fmt="%.0f"),
        b.Figure(NAME, "runner CPU per GiB relayed", "s/GiB", per_gib(rcpu),
                 "first cat's CPU per GiB", per_gib(p1), fmt="%.2f"),
        b.Figure(NAME, "client CPU per GiB relayed", "s/GiB", per_gib(ccpu),
                 "second cat's CPU per GiB", per_gib(p2), fmt="%.2f"),
        b.Figure(NAME, "stand-in alone, to /dev/null", "MiB/s", mibs(at), None, None,
                 fmt="%.0f"),
    ]
