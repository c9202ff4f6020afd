"""--listen: unix sockets (mode, stale and live files, removal on exit), IPv6, legacy aliases."""
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.join(os.environ["R2K_SOURCE_DIR"], "tests", "lib"))
import builders  # noqa: E402
import r2kwire as w  # noqa: E402
from runnerproc import Runner  # noqa: E402

R2K = os.environ["R2K_BIN"]
DOCKERFILE_TAR = w.make_tar([("Dockerfile", b"FROM scratch\n", 0o644)])


@pytest.fixture
def tmp():
    d = tempfile.mkdtemp(prefix="r2k-test-listen-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def unix_runner(tmp, path, *args):
    executor, _ = builders.recording_executor(tmp)
    r = Runner("--listen", "unix://" + path, "--executor", executor, "--workspace",
               os.path.join(tmp, "ws"), "--preflight", "off", *args, listen=False)
    r.wait_log(r"listening on unix://")
    return r


def test_unix_socket_mode_build_and_removal(tmp):
    path = os.path.join(tmp, "r.sock")
    r = unix_runner(tmp, path, "--multiple")
    try:
        assert stat.S_ISSOCK(os.lstat(path).st_mode)
        assert stat.S_IMODE(os.lstat(path).st_mode) == 0o660
        res = w.build("unix://" + path, {"push": False}, DOCKERFILE_TAR)
        assert res.exit == (0, 0, "sha256:" + "ab" * 32), (res.error, r.log)
        r.signal(signal.SIGTERM)
        assert r.wait() == 0
        assert not os.path.exists(path)
    finally:
        r.stop()


def test_unix_mode_option(tmp):
    path = os.path.join(tmp, "r.sock")
    r = unix_runner(tmp, path, "--multiple", "--unix-mode", "0600")
    try:
        assert stat.S_IMODE(os.lstat(path).st_mode) == 0o600
    finally:
        r.stop()
    assert not os.path.exists(path)


def test_stale_socket_file_is_replaced(tmp):
    path = os.path.join(tmp, "r.sock")
    s = socket.socket(socket.AF_UNIX)
    s.bind(path)  # bound, never listening: what a crashed runner leaves behind
    s.close()
    r = unix_runner(tmp, path, "--multiple")
    try:
        res = w.build("unix://" + path, {"push": False}, DOCKERFILE_TAR)
        assert res.exit and res.exit[1] == 0, r.log
    finally:
        r.stop()


def test_live_socket_is_not_taken_over(tmp):
    """A second runner on the path of a live one refuses to start, and leaves the first
    one's socket file in place (it used to unlink it and bind its own)."""
    path = os.path.join(tmp, "r.sock")
    first = unix_runner(tmp, path, "--multiple")
    try:
        ino = os.lstat(path).st_ino
        second = subprocess.run([R2K, "runner", "--listen", "unix://" + path, "--multiple"],
                                capture_output=True, text=True, timeout=60)
        assert second.returncode == 2
        assert "another process is listening" in second.stderr, second.stderr
        assert os.lstat(path).st_ino == ino
        res = w.build("unix://" + path, {"push": False}, DOCKERFILE_TAR)
        assert res.exit and res.exit[1] == 0, first.log
    finally:
        first.stop()
    assert not os.path.exists(path)


def test_exit_leaves_a_successors_socket_alone(tmp):
    """A runner whose socket file was replaced by another's does not remove that file."""
    path = os.path.join(tmp, "r.sock")
    r = unix_runner(tmp, path, "--multiple")
    try:
        os.unlink(path)
        s = socket.socket(socket.AF_UNIX)
        s.bind(path)
        s.listen(1)
    finally:
        r.stop()
    try:
        assert stat.S_ISSOCK(os.lstat(path).st_mode)
    finally:
        s.close()


def test_ipv6_loopback_and_legacy_aliases(tmp):
    executor, _ = builders.recording_executor(tmp)
    r = Runner("-address", "[::1]:0", "-multiple", "--executor", executor, "--workspace",
               os.path.join(tmp, "ws"), "--preflight", "off", listen=False)
    try:
        line = r.wait_log(r"listening on tcp://\[::1\]:")
        port = int(line.rsplit(":", 1)[1])
        for _ in range(2):  # -multiple: more than one build
            res = w.build("tcp://[::1]:%d" % port, {"push": False}, DOCKERFILE_TAR)
            assert res.exit and res.exit[1] == 0, r.log
    finally:
        r.stop()
