"""Builder output reaches the client complete and in order per stream, exit status included."""
import hashlib
import os
import shutil
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.join(os.environ["R2K_SOURCE_DIR"], "tests", "lib"))
import builders  # noqa: E402
import r2kwire as w  # noqa: E402

DOCKERFILE_TAR = w.make_tar([("Dockerfile", b"FROM scratch\n", 0o644)])
TOTAL = 100 << 20


def expected():
    """What the noisy builder writes: numbered records of varying size, alternating streams."""
    out, err = bytearray(), bytearray()
    i = 0
    while len(out) + len(err) < TOTAL:
        rec = b"%08d " % i + hashlib.sha256(b"%d" % i).hexdigest().encode() * (1 + i % 97) + b"\n"
        (out if i % 3 else err).extend(rec)
        i += 1
    return bytes(out), bytes(err), i


NOISY = """#!/usr/bin/python3
import hashlib, os
i = n = 0
while n < %d:
    rec = b"%%08d " %% i + hashlib.sha256(b"%%d" %% i).hexdigest().encode() * (1 + i %% 97) + b"\\n"
    os.write(1 if i %% 3 else 2, rec)
    n += len(rec)
    i += 1
""" % TOTAL


@pytest.fixture
def tmp():
    d = tempfile.mkdtemp(prefix="r2k-test-output-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_100_mib_interleaved(tmp):
    path = os.path.join(tmp, "noisy")
    with open(path, "w") as f:
        f.write(NOISY)
    os.chmod(path, 0o755)
    runner = w.Runner("--executor", path, "--workspace", os.path.join(tmp, "ws"))
    try:
        res = w.build(runner.addr, {}, DOCKERFILE_TAR)
        assert res.exit == (0, 0, ""), (res.error, runner.log()[-2000:])
        out, err, _ = expected()
        assert len(res.stdout) == len(out) and bytes(res.stdout) == out
        assert len(res.stderr) == len(err) and bytes(res.stderr) == err
        assert runner.wait() == 0
    finally:
        runner.stop()


def test_last_line_without_newline_and_exit_3(tmp):
    path = builders.script_executor(tmp, "printf 'line 1\\npartial'; printf 'err-partial' >&2; exit 3")
    runner = w.Runner("--executor", path, "--workspace", os.path.join(tmp, "ws"))
    try:
        res = w.build(runner.addr, {}, DOCKERFILE_TAR)
        assert res.exit == (0, 3, "")
        assert bytes(res.stdout) == b"line 1\npartial"
        assert bytes(res.stderr) == b"err-partial"
        # EXIT is the last frame, after every byte of output.
        assert res.frames[-1] == w.EXIT
        assert runner.wait() == 3
    finally:
        runner.stop()


def test_builder_killed_by_signal(tmp):
    path = builders.script_executor(tmp, "echo bye; kill -KILL $$")
    runner = w.Runner("--executor", path, "--workspace", os.path.join(tmp, "ws"))
    try:
        res = w.build(runner.addr, {}, DOCKERFILE_TAR)
        assert res.exit == (1, 9, "")
        assert bytes(res.stdout) == b"bye\n"
        assert runner.wait() == 128 + 9
    finally:
        runner.stop()


def test_missing_builder(tmp):
    runner = w.Runner("--executor", os.path.join(tmp, "no-such-executor"),
                      "--workspace", os.path.join(tmp, "ws"))
    try:
        res = w.build(runner.addr, {}, DOCKERFILE_TAR)
        assert res.error and res.error[0] == 7 and "no-such-executor" in res.error[1]
        assert runner.wait() == 70
        assert os.listdir(os.path.join(tmp, "ws")) == []
    finally:
        runner.stop()
