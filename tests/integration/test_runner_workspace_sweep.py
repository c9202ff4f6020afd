"""A runner that was killed leaves its workspace, credentials included; the next runner removes it,
and never a workspace another runner still uses."""
import os
import shutil
import signal
import sys
import tempfile
import threading

import pytest

sys.path.insert(0, os.path.join(os.environ["R2K_SOURCE_DIR"], "tests", "lib"))
import builders  # noqa: E402
import r2kwire as w  # noqa: E402
import runnerproc  # noqa: E402

DOCKERFILE_TAR = w.make_tar([("Dockerfile", b"FROM scratch\n", 0o644)])
CREDS = [{"registry": "127.0.0.1:1", "username": "u", "password": "sweep-secret"}]


@pytest.fixture
def tmp():
    d = tempfile.mkdtemp(prefix="r2k-test-sweep-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def pid_alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def start_hanging_build(tmp, ws, name):
    """A runner whose builder writes its pid to TMP/NAME.pid and then sleeps; returns both."""
    marker = os.path.join(tmp, name + ".pid")
    exe = builders.script_executor(tmp, "echo $$ > %s; exec sleep 600" % marker, name=name)
    runner = runnerproc.Runner("--multiple", "--preflight", "off", "--executor", exe,
                               "--workspace", ws)
    result = {}
    t = threading.Thread(target=lambda: result.update(
        res=w.build("tcp://%s:%d" % runner.addr, {"credentials": CREDS}, DOCKERFILE_TAR)),
        daemon=True)
    t.start()
    runnerproc.wait_for(lambda: os.path.exists(marker) and open(marker).read().strip(),
                        what="the builder to start")
    return runner, int(open(marker).read())


def workspaces(ws):
    return sorted(n for n in os.listdir(ws) if n.startswith("build-"))


def test_killed_runner_leftovers_are_swept_but_live_ones_kept(tmp):
    ws = os.path.join(tmp, "ws")
    # A runner in the middle of a build, sharing the workspace directory.
    live, live_builder = start_hanging_build(tmp, ws, "live")
    (held,) = workspaces(ws)
    # A runner killed in the middle of a build (its start left the live build alone).
    dead, dead_builder = start_hanging_build(tmp, ws, "dead")
    (left,) = [n for n in workspaces(ws) if n != held]
    with open(os.path.join(ws, left, "docker", "config.json")) as f:
        assert "auths" in f.read()
    dead.proc.send_signal(signal.SIGKILL)
    dead.proc.wait(30)
    # Its builder goes with it (the reaper's parent-death signal) ...
    runnerproc.wait_for(lambda: not pid_alive(dead_builder), what="the builder to be killed")
    # ... but its workspace and credentials stay: nobody is left to remove them.
    assert workspaces(ws) == sorted([held, left])
    # Not ours, by name: never touched.
    os.mkdir(os.path.join(ws, "build-keep"))
    os.mkdir(os.path.join(ws, "unrelated"))
    # Nor another program's directory with a workspace's name (mktemp -d -t build-XXXXXX).
    other = os.path.join(ws, "build-Xy9zAb")
    os.mkdir(other)
    with open(os.path.join(other, "data"), "w") as f:
        f.write("not the runner's")

    # The next runner to start removes what the killed one left, and only that.
    nxt = runnerproc.Runner("--workspace", ws)
    try:
        nxt.wait_log(r"removed workspace .*%s, left behind by a runner that was killed" % left)
        assert workspaces(ws) == sorted([held, "build-keep", os.path.basename(other)])
        assert os.path.isdir(os.path.join(ws, "unrelated"))
        assert os.path.exists(os.path.join(other, "data"))
        assert pid_alive(live_builder)
        assert "sweep-secret" not in nxt.log
    finally:
        nxt.stop()
        live.stop()
    # The live runner, stopped, cleaned up after itself.
    assert not pid_alive(live_builder)
    assert workspaces(ws) == sorted(["build-keep", os.path.basename(other)])
