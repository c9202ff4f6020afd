"""Cancellation kills the builder and everything it started; the workspace goes too."""
import os
import shutil
import signal
import sys
import tempfile
import time

import pytest

sys.path.insert(0, os.path.join(os.environ["R2K_SOURCE_DIR"], "tests", "lib"))
import builders  # noqa: E402
import r2kwire as w  # noqa: E402

DOCKERFILE_TAR = w.make_tar([("Dockerfile", b"FROM scratch\n", 0o644)])


@pytest.fixture
def tmp():
    d = tempfile.mkdtemp(prefix="r2k-test-cancel-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def stubborn_builder(tmp):
    """A builder that starts a TERM-ignoring child in a new session and an orphan, records
    their pids, says 'ready' and waits."""
    pids = os.path.join(tmp, "pids")
    os.mkdir(pids)
    return builders.script_executor(tmp, f"""
setsid sh -c 'trap "" TERM; echo $$ > {pids}/session; exec sleep 1000' &
sh -c 'sleep 1000 & echo $! > {pids}/orphan' &
echo $$ > {pids}/builder
while [ ! -s {pids}/session ] || [ ! -s {pids}/orphan ]; do sleep 0.05; done
echo ready
sleep 1000
"""), pids


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def start_build(runner):
    s = w.connect(runner.addr)
    data = DOCKERFILE_TAR
    s.sendall(w.preamble() + w.request() + w.frame(w.CONTEXT, data) + w.context_end(data))
    res = w.Result()
    res.preamble = w.recv_exact(s, 12)
    while b"ready" not in res.stdout:
        t, payload = w.read_frame(s)
        if t == w.STDOUT:
            res.stdout += payload
        assert t in (w.STDOUT, w.STDERR, w.LOG, w.CHECK), (t, payload)
    return s, res


def check_all_gone(pids, ws):
    found = {}
    for name in ("builder", "session", "orphan"):
        with open(os.path.join(pids, name)) as f:
            found[name] = int(f.read())
    deadline = time.time() + 30  # bound only; the runner reaps before it answers
    while any(alive(p) for p in found.values()) and time.time() < deadline:
        time.sleep(0.1)
    assert not any(alive(p) for p in found.values()), found
    assert os.listdir(ws) == []


def test_cancel_frame(tmp):
    builder, pids = stubborn_builder(tmp)
    ws = os.path.join(tmp, "ws")
    runner = w.Runner("--executor", builder, "--workspace", ws, "--kill-timeout", "0.5")
    try:
        s, res = start_build(runner)
        s.sendall(w.frame(w.CANCEL))
        res = w.read_result(s, res)
        s.close()
        assert res.exit == (1, signal.SIGTERM, "")
        # Everything was gone before EXIT was sent.
        for name in ("builder", "session", "orphan"):
            assert not alive(int(open(os.path.join(pids, name)).read()))
        check_all_gone(pids, ws)
        assert runner.wait() == 128 + signal.SIGTERM
    finally:
        runner.stop()


def test_client_disconnect(tmp):
    builder, pids = stubborn_builder(tmp)
    ws = os.path.join(tmp, "ws")
    runner = w.Runner("--executor", builder, "--workspace", ws, "--kill-timeout", "0.5")
    try:
        s, _ = start_build(runner)
        s.close()
        assert runner.wait() == 76, runner.log()
        check_all_gone(pids, ws)
    finally:
        runner.stop()


def test_client_disconnect_during_context(tmp):
    executor, record = builders.recording_executor(tmp)
    ws = os.path.join(tmp, "ws")
    runner = w.Runner("--executor", executor, "--workspace", ws)
    try:
        s = w.connect(runner.addr)
        data = w.make_tar([("Dockerfile", b"FROM scratch\n", 0o644), ("big", os.urandom(4 << 20), 0o644)])
        s.sendall(w.preamble() + w.request() + w.frame(w.CONTEXT, data[:300000]))
        s.close()
        assert runner.wait() == 76
        assert os.listdir(ws) == []
        assert not os.path.exists(record)
    finally:
        runner.stop()


def test_runner_sigterm(tmp):
    builder, pids = stubborn_builder(tmp)
    ws = os.path.join(tmp, "ws")
    runner = w.Runner("--executor", builder, "--workspace", ws, "--kill-timeout", "0.5")
    try:
        s, res = start_build(runner)
        runner.proc.send_signal(signal.SIGTERM)
        res = w.read_result(s, res)
        s.close()
        assert res.exit == (1, signal.SIGTERM, "")
        assert any("runner terminated" in text for _, text in res.logs), res.logs
        assert runner.wait() == 128 + signal.SIGTERM
        check_all_gone(pids, ws)
    finally:
        runner.stop()


def test_one_build_ending_spares_another_builds_daemon(tmp):
    """With --multiple, a daemon one build left running (double fork and setsid: an
    orphan in a session of its own) belongs to that build, not to whichever ends first."""
    daemon = os.path.join(tmp, "daemon")
    builder = builders.script_executor(tmp, f"""
case "$*" in
*long*) sh -c 'setsid sleep 1000 </dev/null >/dev/null 2>&1 & echo $! > {daemon}'
        echo ready; sleep 1000;;
*) echo quick;;
esac
""")
    ws = os.path.join(tmp, "ws")
    runner = w.Runner("--executor", builder, "--workspace", ws, "--multiple", "--max-builds", "2",
                      "--kill-timeout", "0.5", "--preflight", "off")
    try:
        s = w.connect(runner.addr)
        data = DOCKERFILE_TAR
        s.sendall(w.preamble() + w.request(destinations=["long"]) + w.frame(w.CONTEXT, data) +
                  w.context_end(data))
        res = w.Result()
        res.preamble = w.recv_exact(s, 12)
        while b"ready" not in res.stdout:
            t, payload = w.read_frame(s)
            if t == w.STDOUT:
                res.stdout += payload
        pid = int(open(daemon).read())
        quick = w.build(runner.addr, {"destinations": ["quick"]}, data)
        assert quick.exit == (0, 0, ""), quick.error
        assert alive(pid), runner.log()
        s.sendall(w.frame(w.CANCEL))
        res = w.read_result(s, res)
        s.close()
        assert res.exit == (1, signal.SIGTERM, "")
        assert not alive(pid)
    finally:
        runner.stop()


def test_runner_killed_takes_its_builds_with_it(tmp):
    """A runner that dies without cleaning up (SIGKILL, out of memory) still leaves no
    builder process behind: the builder's reaper kills its whole tree."""
    builder, pids = stubborn_builder(tmp)
    ws = os.path.join(tmp, "ws")
    runner = w.Runner("--executor", builder, "--workspace", ws)
    try:
        s, res = start_build(runner)
        runner.proc.kill()
        runner.wait()
        found = {n: int(open(os.path.join(pids, n)).read()) for n in ("builder", "session", "orphan")}
        deadline = time.time() + 30  # bound only
        while any(alive(p) for p in found.values()) and time.time() < deadline:
            time.sleep(0.05)
        assert not any(alive(p) for p in found.values()), found
        s.close()
    finally:
        runner.stop()


@pytest.mark.parametrize("how", ["ctrl-c", "killed"])
def test_real_client_ctrl_c_or_killed(tmp, how):
    """End to end: r2k client interrupted (exit 130 after the runner's answer) or killed
    outright; either way the builder, its session child and its orphan are gone, and so
    are the workspace and its config.json."""
    import subprocess
    builder, pids = stubborn_builder(tmp)
    ws = os.path.join(tmp, "ws")
    ctx = os.path.join(tmp, "ctx")
    os.mkdir(ctx)
    with open(os.path.join(ctx, "Dockerfile"), "w") as f:
        f.write("FROM scratch\n")
    runner = w.Runner("--executor", builder, "--workspace", ws, "--kill-timeout", "0.5",
                      "--preflight", "off")
    try:
        p = subprocess.Popen([os.environ["R2K_BIN"], "client", "--runner", runner.addr,
                              "--context", ctx, "--progress=never",
                              "--registry-credentials", "registry=reg.example",
                              "--registry-credentials", "auth=dTpw"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert p.stdout.readline() == b"ready\n"
        assert any(os.path.exists(os.path.join(ws, b, "docker", "config.json"))
                   for b in os.listdir(ws))
        if how == "ctrl-c":
            p.send_signal(signal.SIGINT)
        else:
            p.kill()
        out, err = p.communicate(timeout=60)
        if how == "ctrl-c":
            assert p.returncode == 130, err
            assert b"cancelling the build" in err, err
        runner.wait()  # a single-shot runner exits once its build is over
        check_all_gone(pids, ws)
    finally:
        runner.stop()
