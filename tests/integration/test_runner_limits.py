"""The runner takes the hard open-file limit for itself; its builders keep the one it was given."""
import os
import re
import shutil
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.join(os.environ["R2K_SOURCE_DIR"], "tests", "lib"))
import builders  # noqa: E402
import r2kwire as w  # noqa: E402
import runnerproc  # noqa: E402

DOCKERFILE_TAR = w.make_tar([("Dockerfile", b"FROM scratch\n", 0o644)])


@pytest.fixture
def tmp():
    d = tempfile.mkdtemp(prefix="r2k-test-limits-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def soft_nofile(pid):
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith("Max open files"):
                return int(line.split()[3])
    raise AssertionError("no open-file limit for pid %d" % pid)


def run_build(tmp, soft, hard):
    exe = builders.script_executor(tmp, "ulimit -Sn; ulimit -Hn")
    runner = runnerproc.Runner("-v", "--executor", exe, "--workspace", os.path.join(tmp, "ws"),
                               wrap=["prlimit", "--nofile=%d:%d" % (soft, hard), "--"])
    try:
        runner_soft = soft_nofile(runner.proc.pid)
        res = w.build("tcp://%s:%d" % runner.addr, {}, DOCKERFILE_TAR)
        assert res.exit == (0, 0, ""), (res.error, runner.log[-2000:])
        assert runner.wait() == 0
        return runner_soft, bytes(res.stdout).decode().split(), runner.log
    finally:
        runner.stop()


def test_raised_for_the_runner_not_for_the_builder(tmp):
    runner_soft, (builder_soft, builder_hard), log = run_build(tmp, 256, 4096)
    assert runner_soft == 4096
    assert (builder_soft, builder_hard) == ("256", "4096")
    assert re.search(r"open-file limit raised from 256 to 4096", log), log


def test_already_at_the_hard_limit(tmp):
    runner_soft, (builder_soft, builder_hard), log = run_build(tmp, 512, 512)
    assert runner_soft == 512
    assert (builder_soft, builder_hard) == ("512", "512")
    assert "open-file limit raised" not in log
