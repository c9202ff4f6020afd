"""Old kaniko-runner clients: the JSON line, confinement, per-build credentials, disconnects."""
import base64
import json
import os
import signal
import socket
import sys
import threading

import pytest

sys.path.insert(0, os.path.join(os.environ.get("R2K_SOURCE_DIR", "."), "tests", "lib"))
from runnerproc import (remove_tmp_path, KanikoEngineClient, Runner, connect, get_metrics,  # noqa
                        legacy_build, metric, read_all, wait_for)

# Stand-in executor: records its argv, environment and config.json, writes both streams.
EXECUTOR = r"""#!/bin/sh
d="${R2K_TEST_DIR:?}"
echo ran > "$d/ran"
printf '%s\n' "$@" > "$d/argv"
env > "$d/env"
echo "$DOCKER_CONFIG" > "$d/docker_config_path"
cp "$DOCKER_CONFIG/config.json" "$d/config.json" 2>/dev/null
echo "STEP 1: to stdout"
echo "warning: to stderr" >&2
printf 'no newline at the end'
if [ -e "$d/block" ]; then
  sleep 1000 &
  echo $! > "$d/child.pid"
  echo $$ > "$d/exec.pid"
  wait
fi
exit "${R2K_TEST_EXIT:-0}"
"""


class Env:
    def __init__(self, tmp_path):
        self.dir = tmp_path
        self.ws = tmp_path / "workspace"
        self.ctx = self.ws / "build1"
        self.ctx.mkdir(parents=True)
        (self.ctx / "Dockerfile").write_text("FROM scratch\n")
        self.builds = tmp_path / "builds"
        self.exe = tmp_path / "executor"
        self.exe.write_text(EXECUTOR)
        self.exe.chmod(0o755)

    def runner(self, *extra, env=None):
        e = {"R2K_TEST_DIR": str(self.dir)}
        e.update(env or {})
        return Runner("--multiple", "--executor", str(self.exe), "--shared-workspace",
                      str(self.ws), "--workspace", str(self.builds), *extra, env=e)

    def cmd(self, *args):
        return [str(self.exe), "--context", str(self.ctx), *args]

    def ran(self):
        return (self.dir / "ran").exists()


@pytest.fixture
def env(tmp_path):
    return Env(tmp_path)


def test_success_relays_both_streams(env):
    with env.runner() as r:
        text, ok = legacy_build(r.addr, env.cmd("--destination", "reg.example/app:1"))
    assert ok, text
    assert "STEP 1: to stdout\n" in text and "warning: to stderr\n" in text
    assert "no newline at the end" in text
    assert text.endswith("\nstatus: SUCCESS\n")  # on a line of its own
    argv = (env.dir / "argv").read_text().splitlines()
    assert argv == ["--context", str(env.ctx.resolve()), "--destination", "reg.example/app:1"]


def test_builder_failure(env):
    with env.runner(env={"R2K_TEST_EXIT": "3"}) as r:
        text, ok = legacy_build(r.addr, env.cmd())
    assert not ok
    lines = text.splitlines()
    assert lines[-2:] == ["error: builder exited with status 3", "status: FAILED"]


def test_wrong_executor_runs_nothing(env, tmp_path):
    marker = tmp_path / "touched"
    with env.runner() as r:
        text, ok = legacy_build(r.addr, ["/usr/bin/touch", str(marker)])
        assert not ok and "refused" in text and text.endswith("status: FAILED\n")
        text, ok = legacy_build(r.addr, [str(env.exe) + "x", "--context", str(env.ctx)])
        assert not ok
        f = get_metrics(r.addr)
    assert not marker.exists() and not env.ran()
    assert metric(f, "r2k_builds_started_total") == 0


@pytest.mark.parametrize("how", ["outside", "symlink", "missing", "none", "workspace-itself",
                                 "git", "dotdot"])
def test_context_must_lie_in_workspace(env, tmp_path, how):
    outside = tmp_path / "outside"
    outside.mkdir()
    (env.ws / "link").symlink_to(outside)
    ctx = {"outside": str(outside), "symlink": str(env.ws / "link"),
           "missing": str(env.ws / "nope"), "workspace-itself": str(env.ws),
           "git": "git://example.invalid/repo.git",
           "dotdot": str(env.ctx) + "/../../outside"}.get(how)
    cmd = [str(env.exe)] + (["--context=" + ctx] if ctx else ["--destination", "x"])
    with env.runner() as r:
        text, ok = legacy_build(r.addr, cmd)
    assert not ok and text.endswith("status: FAILED\n"), text
    assert ("refused" in text or "No such file" in text or "no --context" in text), text
    assert not env.ran()


def test_context_forms_accepted(env):
    with env.runner() as r:
        for form in (["--context=dir://" + str(env.ctx)], ["-c", str(env.ctx)],
                     ["-c" + str(env.ctx)]):
            text, ok = legacy_build(r.addr, [str(env.exe)] + form)
            assert ok, (form, text)


def test_dockerfile_outside_refused(env):
    with env.runner() as r:
        text, ok = legacy_build(r.addr, env.cmd("--dockerfile", "/etc/passwd"))
        assert not ok and "dockerfile" in text
        text, ok = legacy_build(r.addr, env.cmd("--dockerfile", "../../../etc/passwd"))
        assert not ok and "dockerfile" in text
        assert not env.ran()
        text, ok = legacy_build(r.addr, env.cmd("--dockerfile=Dockerfile"))
        assert ok, text


def test_output_paths_confined(env, tmp_path):
    with env.runner() as r:
        text, ok = legacy_build(r.addr, env.cmd("--digest-file", str(tmp_path / "digest")))
        assert not ok and "output path" in text and "not inside the shared workspace" in text
        assert not env.ran()
        text, ok = legacy_build(r.addr, env.cmd("--digest-file=" + str(env.ctx / "digest")))
        assert ok, text


def test_credential_without_registry(env):
    with env.runner() as r:
        text, ok = legacy_build(r.addr, env.cmd(),
                                credentials=[{"username": "u", "password": "p"}])
    assert not ok and "credentials[0] has no registry" in text
    assert not env.ran()
    assert "\"p\"" not in text


def test_bad_json_and_long_line(env):
    with env.runner() as r:
        s = connect(r.addr)
        s.sendall(b"{not json\n")
        text = read_all(s).decode()
        s.close()
        assert "not valid JSON" in text and text.endswith("status: FAILED\n")
        s = connect(r.addr)
        try:
            s.sendall(b"{" + b" " * (1100 * 1024))
        except OSError:
            pass
        text = read_all(s).decode()
        s.close()
        assert "longer than" in text and text.endswith("status: FAILED\n")
    assert not env.ran()


def test_line_without_newline_before_half_close(env):
    """A client that closes its sending side in the middle of the line learns why."""
    with env.runner() as r:
        s = connect(r.addr)
        s.sendall(b'{"command": ["/kaniko/executor"]}')
        s.shutdown(socket.SHUT_WR)
        text = read_all(s).decode()
        s.close()
        assert "did not end with a newline" in text and text.endswith("status: FAILED\n"), text
    assert not env.ran()


def test_silent_connection_told_why_it_ends(env):
    """A kaniko-runner client waits in silence while repo2kaniko fetches the repository;
    when that outlasts --idle-timeout it is told so, in its own protocol's terms."""
    with env.runner("--idle-timeout", "1") as r:
        s = connect(r.addr, timeout=60)
        text = read_all(s).decode()
        s.close()
        assert text == "error: no request within 1 s (--idle-timeout)\nstatus: FAILED\n", text
        text, ok = legacy_build(r.addr, env.cmd())  # the runner carries on
        assert ok, text


def test_kaniko_runner_command_line_waits_an_hour(env):
    """Started with kaniko-runner's own flags (-address), the runner waits for the
    request line as long as a repository fetch may take: an hour, unless told."""
    def idle_of(*args):
        r = Runner("-v", "--executor", str(env.exe), "--workspace", str(env.builds), *args,
                   listen=False)
        try:
            return r.wait_log(r"idle timeout \d+ s").split("idle timeout ")[1].split()[0]
        finally:
            r.stop()
    assert idle_of("-address", "tcp://127.0.0.1:0", "-multiple") == "3600"
    assert idle_of("-address=tcp://127.0.0.1:0", "--idle-timeout", "5") == "5"
    assert idle_of("--listen", "tcp://127.0.0.1:0") == "30"


def test_empty_credentials_and_config_deleted(env):
    with env.runner() as r:
        text, ok = legacy_build(r.addr, env.cmd(), credentials=[])
    assert ok, text
    assert json.loads((env.dir / "config.json").read_text()) == {"auths": {}}


def test_per_build_config(env):
    creds = [{"registry": "localhost:5000", "username": "alice", "password": "s3cret"},
             {"registry": "https://index.docker.io/v1/",
              "auth": base64.b64encode(b"bob:pw").decode()},
             {"registry": "cache.example:5001", "username": "c", "password": "d",
              "insecure": True, "tls-verify": "false"}]
    with env.runner() as r:
        text, ok = legacy_build(r.addr, env.cmd(), credentials=creds)
        log = r.log
    assert ok, text
    cfg = json.loads((env.dir / "config.json").read_text())
    auths = cfg["auths"]
    assert base64.b64decode(auths["localhost:5000"]["auth"]) == b"alice:s3cret"
    assert base64.b64decode(auths["https://index.docker.io/v1/"]["auth"]) == b"bob:pw"
    assert base64.b64decode(auths["cache.example:5001"]["auth"]) == b"c:d"
    dc = (env.dir / "docker_config_path").read_text().strip()
    assert dc.startswith(str(env.builds) + "/"), dc
    assert not os.path.exists(dc), "per-build config deleted after the build"
    assert os.listdir(env.builds) == [], "no per-build directory left"
    assert "s3cret" not in log and "s3cret" not in text


def test_busy_runner_refuses(env):
    (env.dir / "block").write_text("")
    with env.runner("--max-builds", "1") as r:
        res = {}
        t = threading.Thread(target=lambda: res.update(text_ok=legacy_build(r.addr, env.cmd())))
        t.start()
        wait_for(lambda: (env.dir / "exec.pid").exists(), what="builder start")
        text, ok = legacy_build(r.addr, env.cmd())
        assert not ok and "busy" in text
        os.kill(int((env.dir / "exec.pid").read_text()), signal.SIGTERM)
        t.join(120)
        assert not res["text_ok"][1]


def test_client_disconnect_kills_builder(env):
    (env.dir / "block").write_text("")
    with env.runner() as r:
        s = connect(r.addr)
        s.sendall((json.dumps({"command": env.cmd(), "credentials": []}) + "\n").encode())
        wait_for(lambda: (env.dir / "child.pid").exists() and
                 (env.dir / "child.pid").read_text().strip(), what="builder start")
        pids = [int((env.dir / n).read_text()) for n in ("exec.pid", "child.pid")]
        s.close()

        def gone(pid):
            try:
                with open(f"/proc/{pid}/stat") as f:
                    return f.read().split(") ")[1][0] == "Z"
            except FileNotFoundError:
                return True
        wait_for(lambda: all(gone(p) for p in pids), what="builder tree killed")
        wait_for(lambda: metric(get_metrics(r.addr), "r2k_builds_failed_total") == 1,
                 what="failed build counted")
        f = get_metrics(r.addr)
        assert metric(f, "r2k_active_builds") == 0
    assert os.listdir(env.builds) == []


def test_request_line_deadline(env):
    with env.runner("--idle-timeout", "1") as r:
        s = connect(r.addr, timeout=60)
        s.sendall(b'{"command": ')
        text = read_all(s).decode()
        s.close()
    assert "no request line" in text and text.endswith("status: FAILED\n")


CHATTY = """#!/bin/sh
i=0
while [ $i -lt 300 ]; do echo "step $i: some output of the build"; i=$((i+1)); done
printf 'last line without a newline'
"""


@pytest.mark.parametrize("over", ["tcp", "unix"])
def test_status_line_is_a_chunk_of_its_own_for_a_slow_reader(env, tmp_path, over):
    """repo2kaniko compares the last chunk it read with 'status: SUCCESS\\n': the status
    line must reach it alone, however long the client spends on each chunk before reading
    the next."""
    env.exe.write_text(CHATTY)
    sock = str(tmp_path / "legacy.sock")
    with env.runner("--listen", "unix://" + sock) as r:
        r.wait_log(r"listening on unix://")
        addr = r.addr if over == "tcp" else sock
        for _ in range(3):
            chunks = list(KanikoEngineClient(addr).build(env.cmd(), consume_delay=0.3))
            assert chunks[-1] == "status: SUCCESS\n", chunks[-2:]
            assert "".join(chunks[:-1]).endswith("last line without a newline\n")


def test_engine_connections_as_repo2docker_makes_them(env):
    """repo2docker creates an engine (and so a connection) before fetching, again to look
    for an existing image, and again to push; only the first one sends a line."""
    with env.runner() as r:
        build = KanikoEngineClient(r.addr)      # build(): get_engine() before fetch()
        KanikoEngineClient(r.addr).close()      # find_image(): another engine, dropped
        text = "".join(build.build(env.cmd()))  # raises unless the last chunk is the status
        KanikoEngineClient(r.addr).close()      # push_image(): push() sends nothing
        assert text.endswith("\nstatus: SUCCESS\n")
        f = get_metrics(r.addr)
    assert metric(f, "r2k_builds_started_total") == 1
    assert metric(f, "r2k_connections_total", protocol="legacy") == 1


@pytest.mark.parametrize("line,why", [
    (b'{"command": ["EXE", "--context", "CTX"]} {"command": ["/bin/sh"]}\n', "after the object"),
    (b'{"command": ["EXE", "--context", "CTX\x00/../.."]}\n', "NUL byte"),
    (b'{"command": ["EXE", "--context", "CTX\\u0000/../.."]}\n', "NUL byte"),
    (b'{"command": ["EXE", "--context", "CTX"], "credentials": [{"registry": "r.example", '
     b'"auth": "dTpw\\u0000QQ=="}]}\n', "NUL byte"),
    (b'{"command": ["EXE", "--context", "CTX"]}garbage\n', "after the object"),
])
def test_json_line_must_be_one_object(env, line, why):
    line = line.replace(b"EXE", str(env.exe).encode()).replace(b"CTX", str(env.ctx).encode())
    with env.runner() as r:
        s = connect(r.addr)
        s.sendall(line)
        text = read_all(s).decode(errors="replace")
        s.close()
    assert why in text and text.endswith("status: FAILED\n"), text
    assert not env.ran()


def test_deprecated_tar_path_spelling_confined(env, tmp_path):
    with env.runner() as r:
        text, ok = legacy_build(r.addr, env.cmd("--tarPath", str(tmp_path / "image.tar")))
    assert not ok and "output path" in text and "not inside the shared workspace" in text
    assert not env.ran()


def test_bad_credentials_do_not_use_up_a_single_shot_runner(env):
    """A credential entry the runner cannot write (not base64, not a registry name) is the
    client's mistake: FAILED, nothing runs, and a single-shot runner still takes its build."""
    r = Runner("--executor", str(env.exe), "--shared-workspace", str(env.ws),
               "--workspace", str(env.builds), env={"R2K_TEST_DIR": str(env.dir)})
    try:
        for cred in ({"registry": "localhost:5000", "auth": "not base64!"},
                     {"registry": "bad host/x y", "username": "u", "password": "p"}):
            text, ok = legacy_build(r.addr, env.cmd(), credentials=[cred])
            assert not ok and "credentials[0]" in text, text
            assert r.proc.poll() is None, "the single build was not used up"
        assert not env.ran()
        text, ok = legacy_build(r.addr, env.cmd())
        assert ok, text
        assert r.wait(60) == 0
    finally:
        r.stop()


def test_workspace_parents_created(env, tmp_path):
    deep = tmp_path / "not" / "there" / "yet"
    with Runner("--multiple", "--executor", str(env.exe), "--shared-workspace", str(env.ws),
                "--workspace", str(deep), env={"R2K_TEST_DIR": str(env.dir)}) as r:
        text, ok = legacy_build(r.addr, env.cmd())
    assert ok, text
    assert deep.is_dir() and os.listdir(deep) == []


FLOOD = b"{" + b" " * ((900 << 10) - 1)  # held in a 1 MiB buffer: 64 fill the 64 MiB


def held(r):
    return metric(get_metrics(r.addr), "r2k_request_buffer_bytes")


def test_unfinished_request_lines_share_a_memory_budget(env):
    """Connections that send most of a 1 MiB line and stop: together they may hold only
    64 MiB; beyond it a request line is refused (busy), and once they are gone builds go
    through again. Each flood is seen held before the next is sent, so the budget is
    exactly full when the others come, however the bytes were read."""
    with env.runner("--idle-timeout", "600") as r:
        floods = []
        for i in range(64):
            s = connect(r.addr)
            s.sendall(FLOOD)
            floods.append(s)
            wait_for(lambda: held(r) == (i + 1) << 20, what="flood %d held" % i)
        # Refused at once, while it still sends: the runner reads on until it closes.
        s = connect(r.addr)
        s.sendall(FLOOD)
        data = read_all(s).decode(errors="replace")
        s.close()
        assert "busy receiving other requests" in data and data.endswith(
            "status: FAILED\n"), data
        text, ok = legacy_build(r.addr, env.cmd())
        assert not ok and "busy receiving other requests" in text, text
        assert held(r) == 64 << 20
        for s in floods:
            s.close()
        wait_for(lambda: held(r) == 0, what="the floods' buffers freed")
        text, ok = legacy_build(r.addr, env.cmd())
        assert ok, text


@pytest.mark.parametrize("why", ["long", "busy"])
def test_refused_client_still_sending_gets_its_error_line(env, why):
    """A line refused while the client still sends: the runner sends its error, shuts
    its side and reads on until the client closes, so that no reset (closing with
    unread input sends one) can destroy the error line, even when the client sends
    more after reading it."""
    with env.runner("--idle-timeout", "600") as r:
        floods = []
        if why == "busy":
            for i in range(64):
                floods.append(connect(r.addr))
                floods[-1].sendall(FLOOD)
                wait_for(lambda: held(r) == (i + 1) << 20, what="flood %d held" % i)
        s = connect(r.addr)
        s.sendall(b"{" + b" " * (2 << 20))  # over 1 MiB: refused before the end
        data = read_all(s).decode(errors="replace")
        s.sendall(b" " * 65536)
        s.shutdown(socket.SHUT_WR)
        assert s.recv(1) == b""  # the runner's close, not a reset
        s.close()
        for f in floods:
            f.close()
    assert ("longer than" if why == "long" else "busy receiving") in data, data
    assert data.endswith("status: FAILED\n"), data


CRASHING = r"""#!/bin/sh
d="${R2K_TEST_DIR:?}"
cp "$DOCKER_CONFIG/config.json" "$d/config.json"
echo "$DOCKER_CONFIG" > "$d/docker_config_path"
case "$R2K_TEST_HOW" in
  exit) exit 3 ;;
  kill) kill -9 $$ ;;
  orphan) (trap '' TERM; sleep 1000) & echo $! > "$d/orphan.pid"; exit 0 ;;
  hang) echo $$ > "$d/exec.pid"; sleep 1000 ;;
esac
"""


@pytest.mark.parametrize("how", ["exit", "kill", "orphan", "disconnect"])
def test_credentials_removed_after_every_outcome(env, how):
    env.exe.write_text(CRASHING)
    creds = [{"registry": "localhost:5000", "username": "u", "password": "s3cret"}]
    with env.runner("--kill-timeout", "1",
                    env={"R2K_TEST_HOW": "hang" if how == "disconnect" else how}) as r:
        if how == "disconnect":
            c = KanikoEngineClient(r.addr)
            c.s.sendall((json.dumps({"command": env.cmd(), "credentials": creds}) + "\n")
                        .encode())
            wait_for(lambda: (env.dir / "exec.pid").exists(), what="builder start")
            c.close()
            wait_for(lambda: metric(get_metrics(r.addr), "r2k_builds_failed_total") == 1,
                     what="the build's end")
        else:
            text, ok = legacy_build(r.addr, env.cmd(), credentials=creds)
            assert ok == (how == "orphan"), text
    assert json.loads((env.dir / "config.json").read_text())["auths"]["localhost:5000"]
    if how == "orphan":
        pid = int((env.dir / "orphan.pid").read_text())
        assert not os.path.exists(f"/proc/{pid}") or \
            open(f"/proc/{pid}/stat").read().split(") ")[1][0] == "Z", "orphan killed"
    dc = (env.dir / "docker_config_path").read_text().strip()
    assert not os.path.exists(dc)
    assert os.listdir(env.builds) == [], "no per-build directory left"
