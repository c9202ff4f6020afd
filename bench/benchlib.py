"""benchlib: what every benchmark scenario needs: a tmpfs work directory, the processes it
starts (and stops), clocks, memory and CPU readings, statistics and the result rows."""
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def now():
    """CLOCK_MONOTONIC in seconds: the clock the stand-in builder stamps its exec with."""
    return time.clock_gettime(time.CLOCK_MONOTONIC)


def log(msg):
    """Progress on stderr (the table goes to stdout)."""
    print("bench: " + msg, file=sys.stderr, flush=True)


class BenchError(Exception):
    """A benchmark could not run (a process failed, a log line never came)."""


# ---- processes ----

_procs = []


def spawn(cmd, **kw):
    """Popen that is remembered, so that stop_all() can end it whatever happens. Each
    process leads a process group of its own (a shell pipeline's members go with it)."""
    kw.setdefault("stdin", subprocess.DEVNULL)
    kw.setdefault("start_new_session", True)
    p = subprocess.Popen(cmd, **kw)
    _procs.append(p)
    return p


def reap(p):
    """Wait for p and return (exit status, rusage) of that process alone (os.wait4)."""
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    if p in _procs:
        _procs.remove(p)
    return p.returncode, ru


def forget(p):
    if p in _procs:
        _procs.remove(p)


def _signal_group(p, sig):
    try:
        os.killpg(p.pid, sig)
    except OSError:
        pass


def stop_all():
    """End every process the bench started, with its process group: SIGTERM, then SIGKILL."""
    for p in list(_procs):
        _signal_group(p, signal.SIGTERM)
    deadline = time.monotonic() + 10
    for p in list(_procs):
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _signal_group(p, signal.SIGKILL)
            p.wait()
        _signal_group(p, signal.SIGKILL)  # whatever of its group is left
    _procs.clear()


def on_signals():
    """SIGINT (even when started ignoring it, as in a background job), SIGTERM and SIGHUP
    end the bench through KeyboardInterrupt, so that cleanup runs."""
    def raise_interrupt(signum, frame):
        raise KeyboardInterrupt("signal %d" % signum)
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, raise_interrupt)


# ---- /proc readings ----

def proc_status(pid):
    """The fields of /proc/PID/status in KiB (VmRSS, VmHWM, RssAnon, RssFile, ...)."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            v = v.split()
            if len(v) == 2 and v[1] == "kB":
                out[k] = int(v[0])
    return out


def proc_cpu(pid):
    """User + system CPU seconds of a live process, all its threads (/proc/PID/stat)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ---- the work directory ----

class Workdir:
    """A private directory on tmpfs (/dev/shm, or BENCH_TMPDIR) removed at the end."""

    def __init__(self, need_bytes):
        parent = os.environ.get("BENCH_TMPDIR", "/dev/shm")
        st = os.statvfs(parent)
        free = st.f_bavail * st.f_frsize
        avail = meminfo().get("MemAvailable", 0) * 1024
        if free < need_bytes or avail < need_bytes:
            raise BenchError("need %.1f GiB free in %s and in memory; have %.1f and %.1f GiB"
                             % (need_bytes / 2**30, parent, free / 2**30, avail / 2**30))
        self.path = tempfile.mkdtemp(prefix="r2k-bench-", dir=parent)

    def sub(self, *names):
        p = os.path.join(self.path, *names)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        return p

    def remove(self):
        shutil.rmtree(self.path, ignore_errors=True)


def meminfo():
    out = {}
    with open("/proc/meminfo") as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = int(v.split()[0])
    return out


# ---- the stand-in builder ----

def build_standin(wd):
    """Compile bench/standin.c into the work directory; returns the executable's path."""
    exe = wd.sub("bin", "standin")
    cc = os.environ.get("CC", "cc")
    subprocess.run([cc, "-O2", "-o", exe, os.path.join(HERE, "standin.c")], check=True)
    return exe


def read_stamps(path):
    """Every exec time the stand-in appended to path."""
    return [t for t, _ in read_stamps_cpu(path)]


def read_stamps_cpu(path):
    """Every (exec time, parent's CPU seconds at that time) the stand-in appended to path."""
    try:
        with open(path) as f:
            return [(float(l.split()[0]), float(l.split()[1])) for l in f if l.strip()]
    except FileNotFoundError:
        return []


# ---- the runner ----

class Runner:
    """One `r2k runner` started by the bench; its stderr goes to a log file."""

    def __init__(self, r2k, wd, args, env=None, listen=("tcp://127.0.0.1:0",), name="runner"):
        self.log_path = wd.sub("logs", "%s-%d.log" % (name, time.monotonic_ns()))
        self.logf = open(self.log_path, "wb")
        cmd = [r2k, "runner"]
        for l in listen:
            cmd += ["--listen", l]
        cmd += list(args)
        full = dict(os.environ)
        full.update(env or {})
        self.t_start = now()
        self.proc = spawn(cmd, stdout=subprocess.DEVNULL, stderr=self.logf, env=full)
        self.addr = None
        self.pid = self.proc.pid
        if any(l.startswith("tcp://") for l in listen):
            line = self.wait_log(r"listening on tcp://")
            m = re.search(r"tcp://([0-9.]+):(\d+)", line)
            self.addr = "tcp://%s:%s" % (m.group(1), m.group(2))
        elif listen:
            self.wait_log(r"listening on unix://")

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def wait_log(self, pattern, timeout=30):
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.log().splitlines():
                if rx.search(line):
                    return line
            if self.proc.poll() is not None:
                break
            time.sleep(0.002)
        raise BenchError("runner never logged %r:\n%s" % (pattern, self.log()[-3000:]))

    def status(self):
        return proc_status(self.pid)

    def cpu(self):
        return proc_cpu(self.pid)

    def stop(self):
        """SIGTERM (a clean shutdown), then wait."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        forget(self.proc)
        self.logf.close()
        return self.proc.returncode


def run_client(r2k, runner_addr, context, extra=(), stdout=subprocess.DEVNULL,
               stderr=subprocess.PIPE):
    """Run one `r2k client` build; returns (start time, exit time, status, rusage, stderr)."""
    cmd = [r2k, "client", "--runner", runner_addr, "--context", context, "--progress=never",
           "--no-push"] + list(extra)
    env = {k: v for k, v in os.environ.items()
           if k not in ("R2K_RUNNER", "KANIKO_PUSH_IMAGE",
                        "CONTAINER_ENGINE_REGISTRY_CREDENTIALS",
                        "KANIKO_CACHE_REGISTRY_CREDENTIALS")}
    errf = tempfile.TemporaryFile() if stderr == subprocess.PIPE else stderr
    t0 = now()
    p = spawn(cmd, stdout=stdout, stderr=errf, env=env)
    rc, ru = reap(p)
    t1 = now()
    err = b""
    if stderr == subprocess.PIPE:
        errf.seek(0)
        err = errf.read()
        errf.close()
    return t0, t1, rc, ru, err


# ---- statistics and results ----

class Series:
    """Repeated measurements of one quantity."""

    def __init__(self, values):
        if not values:
            raise BenchError("no measurements")
        self.values = list(values)

    @property
    def median(self):
        return statistics.median(self.values)

    @property
    def min(self):
        return min(self.values)

    @property
    def max(self):
        return max(self.values)


class Figure:
    """One row of the results: a measured series, its reference, their ratio and a target.

    ratio is median(value) / median(reference). target is a list of (op, limit, on)
    conditions, all of which must hold: op '<=' or '>=', on 'ratio' or 'value' (the median
    in the figure's unit); None for a figure without a target.
    """

    def __init__(self, scenario, name, unit, value, ref_name, ref, target=None, note="",
                 fmt="%.1f"):
        self.scenario, self.name, self.unit = scenario, name, unit
        self.value, self.ref_name, self.ref = value, ref_name, ref
        self.target, self.note, self.fmt = target, note, fmt

    @property
    def ratio(self):
        if self.ref is None or self.ref.median == 0:
            return None
        return self.value.median / self.ref.median

    def _met(self, op, limit, on):
        x = self.ratio if on == "ratio" else self.value.median
        return x is not None and (x <= limit if op == "<=" else x >= limit)

    @property
    def result(self):
        if not self.target:
            return "-"
        return "PASS" if all(self._met(*t) for t in self.target) else "MISS"

    def target_text(self):
        if not self.target:
            return "-"
        out = []
        for op, limit, on in self.target:
            sym = {"<=": "≤", ">=": "≥"}[op]
            out.append("%s %g×" % (sym, limit) if on == "ratio"
                       else "%s %g %s" % (sym, limit, self.unit))
        return ", ".join(out)

    def cells(self):
        f = self.fmt
        v, r = self.value, self.ref
        ref = "-" if r is None else ("%s %s (%s–%s)" % (f % r.median, self.unit, f % r.min,
                                                       f % r.max))
        ratio = "-" if self.ratio is None else "%.2f×" % self.ratio
        return [self.scenario, self.name, "%s %s" % (f % v.median, self.unit), f % v.min,
                f % v.max, "%d" % len(v.values), self.ref_name or "-", ref, ratio,
                self.target_text(), self.result]


HEADER = ["scenario", "figure", "median", "min", "max", "runs", "reference",
          "reference median (min–max)", "ratio", "target", "result"]


def text_table(figs):
    rows = [HEADER] + [f.cells() for f in figs]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
    out = []
    for n, r in enumerate(rows):
        out.append("  ".join(c.ljust(widths[i]) for i, c in enumerate(r)).rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def md_table(figs):
    out = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    for f in figs:
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in f.cells()) + " |")
    return "\n".join(out)


# ---- the machine ----

def machine(r2k):
    """What the figures were measured on."""
    info = {}
    with open("/proc/cpuinfo") as f:
        for line in f:
            k, _, v = line.partition(":")
            info.setdefault(k.strip(), v.strip())
    cpu = "%s (family %s, model %s, %s MHz)" % (info.get("model name", "unknown"),
                                                 info.get("cpu family", "?"),
                                                 info.get("model", "?"),
                                                 info.get("cpu MHz", "?").split(".")[0])
    flags = info.get("flags", "").split()
    cpu += "; " + (", ".join(f for f in ("sha_ni", "avx2", "avx512f") if f in flags) or
                   "no sha_ni/avx2")
    u = os.uname()
    try:
        ver = subprocess.run([r2k, "version"], capture_output=True, text=True).stdout
        ver = ver.splitlines()[0].strip() if ver else "?"
    except OSError:
        ver = "?"
    try:
        git = ["git", "-C", HERE]
        rev = subprocess.run(git + ["describe", "--always"], capture_output=True,
                             text=True).stdout.strip() or "?"
        # Changed tracked files, but for the results this run rewrites.
        changed = subprocess.run(git + ["status", "--porcelain", "--untracked-files=no", "--",
                                        ":/", ":(exclude,top)bench/results"],
                                 capture_output=True, text=True).stdout.strip()
        rev += "-dirty" if changed else ""
    except OSError:
        rev = "?"
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpu": cpu,
        "cores": "%d online, %d usable" % (os.cpu_count(), len(os.sched_getaffinity(0))),
        "memory": "%.1f GiB" % (meminfo()["MemTotal"] / 2**20),
        "kernel": "%s %s %s" % (u.sysname, u.release, u.machine),
        "r2k": "%s (%s)" % (ver, rev),
        "load": "%.2f %.2f %.2f" % os.getloadavg(),
    }
