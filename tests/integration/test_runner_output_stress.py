"""Every line of a builder's children reaches the real client, whenever they write it.

The stand-in builders fork many children that write numbered lines to stdout
and stderr and exit; the builder itself exits at once, before they write (or
waits for them and exits right after). Each build is checked line by line:
every line present exactly once, each child's lines in order, on the right
stream. No timing is asserted; the builds repeat to make races show.
"""
import os
import re
import shutil
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.join(os.environ["R2K_SOURCE_DIR"], "tests", "lib"))
import builders  # noqa: E402
import r2kwire as w  # noqa: E402
from clientrun import run_client  # noqa: E402

CHILDREN, LINES = 40, 5

# The builder exits first; its children wait until it is gone, then write
# (every eighth takes a moment more), so that all their output comes after
# the builder's end, while the runner already knows of it.
AFTER_EXIT = """b=$$
i=0
while [ $i -lt %d ]; do
  (
    while kill -0 $b 2>/dev/null; do :; done
    [ $((i %% 8)) = 0 ] && sleep 0.3
    j=0
    while [ $j -lt %d ]; do echo "out $i $j"; echo "err $i $j" >&2; j=$((j+1)); done
  ) &
  i=$((i+1))
done
exit 0""" % (CHILDREN, LINES)

# The children write and exit at once; the builder waits for them, then
# writes a last line without newline on each stream and exits.
THEN_EXIT = """i=0
while [ $i -lt %d ]; do
  (j=0; while [ $j -lt %d ]; do echo "out $i $j"; echo "err $i $j" >&2; j=$((j+1)); done) &
  i=$((i+1))
done
wait
printf 'out-last'
printf 'err-last' >&2
exit 5""" % (CHILDREN, LINES)


@pytest.fixture
def tmp():
    d = tempfile.mkdtemp(prefix="r2k-test-stress-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def check_stream(data, tag):
    """Every 'TAG i j' line exactly once, j in order per child; returns what follows the last line."""
    lines = re.findall(rb"%s (\d+) (\d+)\n" % tag, data)
    seen = {}
    for i, j in lines:
        seen.setdefault(int(i), []).append(int(j))
    missing = [(i, j) for i in range(CHILDREN) for j in range(LINES) if j not in seen.get(i, [])]
    assert not missing, "%s lines missing (child, line): %s" % (tag.decode(), missing[:20])
    assert len(lines) == CHILDREN * LINES, "%s: %d lines" % (tag.decode(), len(lines))
    assert all(seen[i] == list(range(LINES)) for i in seen), "%s lines out of order" % tag.decode()
    return re.sub(rb"%s \d+ \d+\n" % tag, b"", data)


def context(tmp):
    ctx = os.path.join(tmp, "ctx")
    os.makedirs(ctx)
    with open(os.path.join(ctx, "Dockerfile"), "w") as f:
        f.write("FROM scratch\n")
    return ctx


def builds(tmp, script, n):
    """Run n builds of script through one runner with the real client; yields each result."""
    path = builders.script_executor(tmp, script)
    ctx = context(tmp)
    runner = w.Runner("--executor", path, "--workspace", os.path.join(tmp, "ws"), "--multiple",
                      "--preflight", "off")
    try:
        for _ in range(n):
            p = run_client(["--runner", runner.addr, "--context", ctx, "--no-push"])
            yield p, runner
    finally:
        runner.stop()


def test_children_writing_after_the_builder_exited(tmp):
    for p, runner in builds(tmp, AFTER_EXIT, 8):
        assert p.returncode == 0, (p.stderr[-2000:], runner.log()[-3000:])
        assert check_stream(p.stdout, b"out") == b""
        check_stream(p.stderr, b"err")
    # They all ended on their own: none was stopped as left behind.
    assert "left behind" not in runner.log(), runner.log()[-3000:]


def test_children_then_builder_exiting_at_once(tmp):
    for p, runner in builds(tmp, THEN_EXIT, 20):
        assert p.returncode == 5, (p.stderr[-2000:], runner.log()[-3000:])
        assert check_stream(p.stdout, b"out") == b"out-last"
        assert b"err-last" in check_stream(p.stderr, b"err")


def test_exit_frame_follows_the_childrens_output(tmp):
    """The same with the wire client: EXIT is the last frame, after every line."""
    path = builders.script_executor(tmp, AFTER_EXIT)
    runner = w.Runner("--executor", path, "--workspace", os.path.join(tmp, "ws"),
                      "--preflight", "off")
    try:
        res = w.build(runner.addr, {}, w.make_tar([("Dockerfile", b"FROM scratch\n", 0o644)]))
        assert res.exit == (0, 0, ""), (res.error, runner.log()[-2000:])
        assert res.frames[-1] == w.EXIT
        assert check_stream(bytes(res.stdout), b"out") == b""
        assert check_stream(bytes(res.stderr), b"err") == b""
        assert runner.wait() == 0
    finally:
        runner.stop()
