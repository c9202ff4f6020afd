"""Legacy clients that stop reading: the runner still stops, and still cleans up."""
import json
import os
import signal
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.environ.get("R2K_SOURCE_DIR", "."), "tests", "lib"))
from runnerproc import (remove_tmp_path, Runner, connect, get_metrics, http_get,  # noqa
                        metric, read_all, wait_for)

# Stand-in executor: 2 MiB of output (more than a unix socket holds, less than the runner
# queues before it stops reading the pipes) or a little, then it exits, blocks or floods.
EXECUTOR = r"""#!/bin/sh
d="${R2K_TEST_DIR:?}"
echo "$DOCKER_CONFIG" > "$d/docker_config_path"
if [ "$R2K_TEST_HOW" = flood ]; then
  trap '' TERM
  echo $$ > "$d/exec.pid"
  exec yes 'output nobody reads, output nobody reads'
fi
if [ "$R2K_TEST_OUTPUT" = queued ]; then head -c 2097152 /dev/zero; else echo "a little output"; fi
echo $$ > "$d/exec.pid"
[ "$R2K_TEST_HOW" = block ] && exec sleep 1000
exit 0
"""

CREDS = [{"registry": "localhost:5000", "username": "u", "password": "s3cret"}]


class Env:
    def __init__(self, tmp_path):
        self.dir = tmp_path
        self.ws = tmp_path / "workspace"
        self.ctx = self.ws / "ctx"
        self.ctx.mkdir(parents=True)
        self.builds = tmp_path / "builds"
        self.exe = tmp_path / "executor"
        self.exe.write_text(EXECUTOR)
        self.exe.chmod(0o755)
        self.sock = str(tmp_path / "r.sock")

    def runner(self, *extra, how, output="queued"):
        env = {"R2K_TEST_DIR": str(self.dir), "R2K_TEST_HOW": how, "R2K_TEST_OUTPUT": output,
               "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=16"}
        r = Runner("--listen", "unix://" + self.sock, "--executor", str(self.exe),
                   "--shared-workspace", str(self.ws), "--workspace", str(self.builds),
                   *extra, env=env)
        r.wait_log(r"listening on unix://")
        return r

    def send_line(self):
        """Connect, send the request line, and never read."""
        s = connect(self.sock, timeout=120)
        cmd = [str(self.exe), "--context", str(self.ctx)]
        s.sendall((json.dumps({"command": cmd, "credentials": CREDS}) + "\n").encode())
        return s

    def builder_pid(self):
        p = self.dir / "exec.pid"
        wait_for(lambda: p.exists() and p.read_text().strip(), what="the builder's start")
        return int(p.read_text())

    def assert_clean(self, pid):
        try:
            with open(f"/proc/{pid}/stat") as f:
                assert f.read().split(") ")[1][0] == "Z", "builder %d still runs" % pid
        except FileNotFoundError:
            pass
        dc = (self.dir / "docker_config_path").read_text().strip()
        assert dc and not os.path.exists(dc), "credentials left in " + dc
        assert os.listdir(self.builds) == [], "a per-build directory is left"


def wait_exit(r, timeout=90):
    """Wait for the runner to exit (the timeout only bounds a hang); returns
    (exit status, peak resident set size of it and its children in KiB)."""
    deadline = time.monotonic() + timeout
    while True:
        pid, status, ru = os.wait4(r.proc.pid, os.WNOHANG)
        if pid:
            r.proc.returncode = os.waitstatus_to_exitcode(status)
            r.wait()
            return r.proc.returncode, ru.ru_maxrss
        if time.monotonic() > deadline:
            raise AssertionError("the runner did not exit:\n" + r.log)
        time.sleep(0.05)


@pytest.fixture
def env(tmp_path):
    return Env(tmp_path)


@pytest.mark.parametrize("output", ["queued", "unread"])
@pytest.mark.parametrize("how", ["single-shot", "sigint", "sigterm"])
def test_runner_stops_although_a_legacy_client_does_not_read(env, how, output):
    """The builder's output is queued in the runner ("queued": more than the socket
    holds) or sits unread in the socket ("unread"); the client reads none of it. A
    single-shot runner whose build ended, or a runner told to stop, still exits: the
    last bytes get a short bound instead of waiting for the client (here for ever)."""
    extra = ["--idle-timeout", "3600", "--kill-timeout", "1"]
    if how == "sigterm":
        extra.append("--multiple")
    r = env.runner(*extra, how="exit" if how == "single-shot" else "block", output=output)
    try:
        s = env.send_line()
        pid = env.builder_pid()
        if how == "sigint":
            r.signal(signal.SIGINT)
        elif how == "sigterm":
            r.signal(signal.SIGTERM)
            r.wait_log(r"SIGTERM: no new builds")
            r.signal(signal.SIGTERM)
        status, _ = wait_exit(r)
        s.close()
    finally:
        r.stop()
    assert status == {"single-shot": 0, "sigint": 143, "sigterm": 0}[how], r.log
    assert "did not %s" % ("take its output" if output == "queued" else "read its output") \
        in r.log, r.log
    env.assert_clean(pid)


def test_client_taking_no_output_is_closed_after_the_idle_timeout(env):
    """Without a shutdown, --idle-timeout bounds how long a finished build's output
    may wait for a client that takes none of it; the runner goes on serving."""
    r = env.runner("--multiple", "--idle-timeout", "1", how="exit")
    try:
        s = env.send_line()
        pid = env.builder_pid()
        r.wait_log(r"client took none of its output for 1 s: closing")
        data = read_all(s)  # what the socket held; then the runner's end, without a status
        s.close()
        assert 0 < len(data) < 2 << 20 and b"status:" not in data
        assert http_get(r.addr, "/healthz").status == 200
        wait_for(lambda: metric(get_metrics(r.addr), "r2k_active_builds") == 0,
                 what="the slot released")
    finally:
        assert r.stop() == 0
    env.assert_clean(pid)


def test_builder_flooding_while_stopped_for_a_client_that_does_not_read(env):
    """A builder that ignores SIGTERM and keeps writing while the runner stops, for a
    client that reads nothing: the pipes are read on (the kill must finish) but what
    does not fit in the connection's queue is dropped, not held."""
    r = env.runner("-v", "--kill-timeout", "2", how="flood")
    try:
        s = env.send_line()
        pid = env.builder_pid()
        r.wait_log(r"bytes of output queued: pausing the builder")
        r.signal(signal.SIGINT)
        status, peak_kib = wait_exit(r)
        s.close()
    finally:
        r.stop()
    assert status == 137, r.log  # SIGKILL: it ignored SIGTERM
    assert "dropped" in r.log, r.log
    assert peak_kib < 96 << 10, "runner peaked at %d KiB" % peak_kib
    env.assert_clean(pid)
