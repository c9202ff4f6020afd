"""r2k benchmarks: every figure against a reference measured in the same invocation.

Usage: bench/run.sh BUILD [--runs N] [--output FILE] [--keep] [SCENARIO...]
Scenarios: transfer, output, checks, startup, overhead (default: all, in that order).
BENCH_SCENARIOS and BENCH_RUNS in the environment do the same as the arguments.
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import benchlib as b  # noqa: E402
from scenarios import checks, output, overhead, startup, transfer  # noqa: E402

SCENARIOS = {m.NAME: m for m in (transfer, output, checks, startup, overhead)}
RESULTS = os.path.join(b.HERE, "results")
# tmpfs needed: the 500 MiB tree, its extracted copy, the 100 MiB tree, a 1 GiB workspace.
NEED_BYTES = 3 << 30


class Ctx:
    """What scenarios share: the binary, the work directory, the stand-in, the run count."""

    def __init__(self, r2k, wd, standin, runs):
        self.r2k, self.wd, self.standin, self.runs = r2k, wd, standin, runs
        self.notes = []


def parse(argv):
    ap = argparse.ArgumentParser(prog="bench/run.sh", description=__doc__.split("\n")[0])
    ap.add_argument("--build", required=True, help="build directory holding r2k")
    ap.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_RUNS", "5")),
                    help="runs per figure (default 5, or BENCH_RUNS)")
    ap.add_argument("--output", help="markdown results file (default bench/results/latest.md "
                    "for all scenarios, bench/results/partial.md for some)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("scenarios", nargs="*", metavar="SCENARIO",
                    help="some of: " + ", ".join(SCENARIOS))
    a = ap.parse_args(argv)
    names = a.scenarios or os.environ.get("BENCH_SCENARIOS", "").replace(",", " ").split()
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        ap.error("unknown scenario %s; scenarios are %s" % (", ".join(unknown),
                                                           ", ".join(SCENARIOS)))
    if a.runs < 1:
        ap.error("--runs must be at least 1")
    a.names = [n for n in SCENARIOS if n in names] if names else list(SCENARIOS)
    if not a.output:
        a.output = os.path.join(RESULTS, "latest.md" if a.names == list(SCENARIOS)
                                else "partial.md")
    return a


def markdown(figs, mach, a, notes, secs):
    out = ["# r2k benchmark results", ""]
    out.append("Measured by `bench/run.sh` (bench/README.md explains each figure). Each figure "
               "is the median of its runs, with min and max; the ratio is the figure's median "
               "over its reference's median, both measured in the same invocation.")
    out += ["", "| machine | |", "|---|---|"]
    for k in ("date", "cpu", "cores", "memory", "kernel", "r2k", "load"):
        label = "load average at start" if k == "load" else k
        out.append("| %s | %s |" % (label, mach[k]))
    out.append("| load average at end | %.2f %.2f %.2f |" % os.getloadavg())
    out.append("| scenarios | %s (%d runs per figure, %.0f s) |"
               % (", ".join(a.names), a.runs, secs))
    out += ["", b.md_table(figs), ""]
    notes = notes + ["Other programs may run beside the bench (the load averages above tell): "
                     "absolute times move from run to run, ratios less, CPU seconds least."]
    if notes:
        out += ["Notes:", ""] + ["- " + n for n in notes] + [""]
    return "\n".join(out)


def main(argv):
    a = parse(argv)
    r2k = os.path.abspath(os.path.join(a.build, "r2k"))
    if not os.access(r2k, os.X_OK):
        sys.exit("bench: %s not found; run make build" % r2k)
    if a.runs < 5:
        b.log("%d runs per figure: fewer than the 5 the published figures use" % a.runs)
    b.on_signals()
    mach = b.machine(r2k)
    t_start = time.monotonic()
    wd = None
    figs = []
    try:
        wd = b.Workdir(NEED_BYTES if "transfer" in a.names else 256 << 20)
        b.log("work directory %s" % wd.path)
        ctx = Ctx(r2k, wd, b.build_standin(wd), a.runs)
        for name in a.names:
            b.log("scenario %s" % name)
            figs += SCENARIOS[name].run(ctx)
    except KeyboardInterrupt:
        b.log("interrupted: cleaning up")
        return 130
    except b.BenchError as e:
        b.log("failed: %s" % e)
        return 1
    finally:
        b.stop_all()
        if wd and not a.keep:
            wd.remove()
        elif wd:
            b.log("kept %s" % wd.path)
    secs = time.monotonic() - t_start
    print(b.text_table(figs))
    os.makedirs(os.path.dirname(os.path.abspath(a.output)), exist_ok=True)
    with open(a.output, "w") as f:
        f.write(markdown(figs, mach, a, ctx.notes, secs))
    b.log("results in %s (%.0f s)" % (os.path.relpath(a.output), secs))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
