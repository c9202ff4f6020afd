"""5. Per-build overhead: client start to builder exec (and to client exit) for a 1 KiB
context over loopback TCP, against spawning the stand-in builder directly."""
import os
import subprocess
import time

import benchlib as b

NAME = "overhead"
WARMUP = 3


def context(ctx):
    d = ctx.wd.sub("ctx-1k", "Dockerfile")
    df = b"FROM scratch\nCOPY . /app\n"
    with open(d, "wb") as f:
        f.write(df)
    with open(os.path.join(os.path.dirname(d), "app.txt"), "wb") as f:
        f.write(b"x" * (1024 - len(df) - 1) + b"\n")
    return os.path.dirname(d)


def run(ctx):
    src = context(ctx)
    stamp = ctx.wd.sub("stamps", "overhead")
    r = b.Runner(ctx.r2k, ctx.wd, ["--multiple", "--executor", ctx.standin, "--workspace",
                                   ctx.wd.sub("ws"), "--preflight", "off",
                                   "--pass-env", "R2K_BENCH_STAMP"],
                 env={"R2K_BENCH_STAMP": stamp}, name="overhead")
    env = dict(os.environ, R2K_BENCH_STAMP=stamp)
    n = max(4 * ctx.runs, 20)
    to_exec, to_exit, d_exec, d_exit = [], [], [], []
    try:
        for i in range(WARMUP + n):
            if i == WARMUP:
                b.log("overhead: %d builds of a 1 KiB context" % n)
            t0, t1, rc, _, err = b.run_client(ctx.r2k, r.addr, src)
            if rc != 0:
                raise b.BenchError("r2k client exited %d: %s" % (rc, err.decode()[-1000:]))
            t_exec = b.read_stamps(stamp)[-1]
            q0 = b.now()
            p = b.spawn([ctx.standin], env=env, stdout=subprocess.DEVNULL)
            b.reap(p)
            q1 = b.now()
            q_exec = b.read_stamps(stamp)[-1]
            if i >= WARMUP:
                to_exec.append((t_exec - t0) * 1000)
                to_exit.append((t1 - t0) * 1000)
                d_exec.append((q_exec - q0) * 1000)
                d_exit.append((q1 - q0) * 1000)
    finally:
        r.stop()
    ref = "stand-in spawned directly"
    return [
        b.Figure(NAME, "client start to builder exec, 1 KiB context", "ms", b.Series(to_exec),
                 ref + ": start to exec", b.Series(d_exec), [("<=", 20, "value")]),
        b.Figure(NAME, "client start to client exit, 1 KiB context", "ms", b.Series(to_exit),
                 ref + ": start to exit", b.Series(d_exit)),
    ]
