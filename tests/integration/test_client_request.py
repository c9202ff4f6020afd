"""r2k client: build flags, environment and credentials as the runner receives them."""

import json
import os
import shutil
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.join(os.environ.get("R2K_SOURCE_DIR", "."), "tests", "lib"))
from clientrun import closed_port, run_client  # noqa: E402
from fakerunner import FakeRunner, scripted  # noqa: E402


@pytest.fixture(scope="module")
def ctx():
    d = tempfile.mkdtemp(prefix="r2k-req-")
    with open(os.path.join(d, "Dockerfile"), "w") as f:
        f.write("FROM scratch\n")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def request(ctx, *args, env=None):
    """The REQUEST the runner receives for these options."""
    with FakeRunner(scripted(("exit", 0), inspect=False)) as fr:
        p = run_client(["--runner", fr.address, "--context", ctx] + list(args), env=env)
    assert p.returncode == 0, p.stderr
    return fr.conns[0].request


def usage_error(*args, env=None):
    """Run options that must be refused before connecting; returns stderr."""
    p = run_client(["--runner", "tcp://127.0.0.1:%d" % closed_port(), "--context", "/"] +
                   list(args), env=env)
    assert p.returncode == 2, p.stderr
    return p.stderr.decode()


AWKWARD = 'a value with spaces, = signs, "quotes", \'single\'\nand a newline'


def test_build_flags(ctx):
    r = request(ctx, "-d", "reg:5000/a:1", "--destination", "reg:5000/a:latest",
                "-f", "sub/Dockerfile.dev", "--build-arg", "V=" + AWKWARD,
                "--build-arg", "EMPTY=", "--label", "org.example=" + AWKWARD,
                "--platform", "linux/arm64", "--target", "final",
                "--cache-registry", "cache:5000/c", "--cache-registry-insecure",
                "--insecure-registry", "reg:5000", "--insecure-registry", "other:1",
                "--cache-dir", "/cache", "--warm", "--no-push")
    assert r["destinations"] == ["reg:5000/a:1", "reg:5000/a:latest"]
    assert r["dockerfile"] == "sub/Dockerfile.dev"
    assert r["build_args"] == ["V=" + AWKWARD, "EMPTY="]
    assert r["labels"] == ["org.example=" + AWKWARD]
    assert r["platform"] == "linux/arm64"
    assert r["target"] == "final"
    assert r["cache_repo"] == "cache:5000/c"
    assert r["cache_insecure"] is True
    assert r["insecure_registries"] == ["reg:5000", "other:1"]
    assert r["cache_dir"] == "/cache"
    assert r["warm"] is True
    assert r["push"] is False
    assert r["credentials"] == []


def test_defaults(ctx):
    r = request(ctx)
    assert r["push"] is True and r["warm"] is False
    assert "dockerfile" not in r and "cache_repo" not in r


def test_build_arg_from_environment(ctx):
    r = request(ctx, "--build-arg", "FROM_ENV", env={"FROM_ENV": "x=y z"})
    assert r["build_args"] == ["FROM_ENV=x=y z"]
    assert "FROM_ENV" in usage_error("--build-arg", "FROM_ENV")


@pytest.mark.parametrize("value,push", [("false", False), ("FALSE", False), ("0", False),
                                        ("No", False), ("true", True), ("1", True),
                                        ("", True), ("T", True), (" true", False),
                                        ("yes", False), ("on", False),
                                        # anything else is not a yes, as repo2kaniko reads it
                                        ("off", False), ("f", False), ("bogus", False)])
def test_kaniko_push_image(ctx, value, push):
    assert request(ctx, env={"KANIKO_PUSH_IMAGE": value})["push"] is push


def test_push_flag_beats_environment(ctx):
    assert request(ctx, "--push", env={"KANIKO_PUSH_IMAGE": "false"})["push"] is True


def test_registry_credentials_flags(ctx):
    r = request(ctx, "--registry-credentials", "registry=reg:5000",
                "--registry-credentials", "username=ci",
                "--registry-credentials", "password=" + AWKWARD,
                "--registry-credentials", "registry=https://index.docker.io/v1/",
                "--registry-credentials", "auth=Y2k6cHc=")
    assert r["credentials"] == [
        {"registry": "reg:5000", "username": "ci", "password": AWKWARD, "insecure": False},
        {"registry": "https://index.docker.io/v1/", "auth": "Y2k6cHc=", "insecure": False},
    ]


def test_registry_credentials_environment_list_and_object(ctx):
    creds = [{"registry": "a:1", "username": "u", "password": "p=q"},
             {"registry": "b:2", "auth": "YTpi", "insecure": True}]
    r = request(ctx, env={"CONTAINER_ENGINE_REGISTRY_CREDENTIALS": json.dumps(creds)})
    assert r["credentials"] == [dict(creds[0], insecure=False), creds[1]]
    one = {"registry": "c:3", "username": "u", "password": AWKWARD}
    r = request(ctx, env={"CONTAINER_ENGINE_REGISTRY_CREDENTIALS": json.dumps(one)})
    assert r["credentials"] == [dict(one, insecure=False)]


def test_flags_replace_environment(ctx):
    env = {"CONTAINER_ENGINE_REGISTRY_CREDENTIALS":
           json.dumps({"registry": "env:1", "username": "u", "password": "p"})}
    r = request(ctx, "--registry-credentials", "registry=flag:1",
                "--registry-credentials", "auth=eDp5", env=env)
    assert [c["registry"] for c in r["credentials"]] == ["flag:1"]


def test_cache_registry_credentials(ctx):
    r = request(ctx, "--cache-registry", "cache.example:5000/team/cache",
                "--cache-registry-credentials", "username=cu",
                "--cache-registry-credentials", "password=cp")
    assert r["credentials"] == [{"registry": "cache.example:5000", "username": "cu",
                                 "password": "cp", "insecure": False}]
    env = {"KANIKO_CACHE_REGISTRY_CREDENTIALS": json.dumps({"username": "eu", "password": "ep"})}
    r = request(ctx, "--cache-registry", "localhost:5000/c", "--cache-registry-insecure",
                env=env)
    assert r["credentials"] == [{"registry": "localhost:5000", "username": "eu",
                                 "password": "ep", "insecure": True}]
    r = request(ctx, "--cache-registry", "myuser/cache", "--cache-registry-credentials",
                "auth=YTpi", "--registry-credentials", "registry=r:1",
                "--registry-credentials", "auth=YTpj")
    assert r["credentials"] == [
        {"registry": "r:1", "auth": "YTpj", "insecure": False},
        {"registry": "docker.io", "auth": "YTpi", "insecure": False}]


def test_cache_credentials_for_a_destination_registry_are_dropped(ctx):
    # One config.json holds one login per registry: the destination's is kept, with a warning.
    with FakeRunner(scripted(("exit", 0), inspect=False)) as fr:
        p = run_client(["--runner", fr.address, "--context", ctx,
                        "--registry-credentials", "registry=https://reg.example:5000/",
                        "--registry-credentials", "username=du",
                        "--registry-credentials", "password=dp",
                        "--cache-registry", "reg.example:5000/team/cache",
                        "--cache-registry-credentials", "username=cu",
                        "--cache-registry-credentials", "password=cp"])
    assert p.returncode == 0, p.stderr
    assert [c["username"] for c in fr.conns[0].request["credentials"]] == ["du"]
    err = p.stderr.decode()
    assert "r2k: warning: the cache registry credentials for reg.example:5000 are not used" \
        in err, err
    assert "cp" not in err


def test_empty_values_are_usage_errors():
    for args, name in ((["--destination="], "--destination"), (["-d", "a", "-d", ""], "--destination"),
                       (["--platform="], "--platform"), (["--target", ""], "--target"),
                       (["--cache-registry="], "--cache-registry"), (["--cache-dir="], "--cache-dir"),
                       (["--insecure-registry="], "--insecure-registry"), (["-f", ""], "--dockerfile")):
        assert "r2k client: %s: the value is empty" % name in usage_error(*args)


def test_bad_credentials_are_usage_errors():
    secret = "hunter2-secret"
    e = usage_error("--registry-credentials", "username=u",
                    "--registry-credentials", "password=" + secret)
    assert "--registry-credentials" in e and "registry" in e and secret not in e
    e = usage_error("--registry-credentials", "registry=r", "--registry-credentials",
                    "username=u")
    assert "password" in e
    e = usage_error("--registry-credentials", "registry=r", "--registry-credentials",
                    "token=" + secret)
    assert "unknown key 'token'" in e and secret not in e
    e = usage_error("--registry-credentials", secret)
    assert "KEY=VALUE" in e and secret not in e
    e = usage_error("--registry-credentials", "registry=r", "--registry-credentials", "auth=a",
                    "--registry-credentials", "auth=b")
    assert "twice" in e
    e = usage_error(env={"CONTAINER_ENGINE_REGISTRY_CREDENTIALS": "{not json " + secret})
    assert "CONTAINER_ENGINE_REGISTRY_CREDENTIALS" in e and secret not in e
    e = usage_error(env={"CONTAINER_ENGINE_REGISTRY_CREDENTIALS":
                         json.dumps([{"registry": "a", "username": "u", "password": secret},
                                     {"registry": "b", "username": 3, "password": "x"}])})
    assert "entry 2" in e and "username" in e and secret not in e
    e = usage_error(env={"KANIKO_CACHE_REGISTRY_CREDENTIALS":
                         json.dumps({"username": "u", "password": secret})})
    assert "KANIKO_CACHE_REGISTRY_CREDENTIALS" in e and "registry" in e and secret not in e
    e = usage_error(env={"KANIKO_CACHE_REGISTRY_CREDENTIALS": "[]"})
    assert "object" in e
    e = usage_error("--label", "novalue")
    assert "--label" in e


def test_secrets_leave_the_command_line(ctx):
    """Once parsed, password= and auth= values are overwritten in argv: ps and
    /proc/PID/cmdline no longer show them (the request still carries them)."""
    import socket
    import subprocess
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    srv.settimeout(60)
    args = [os.environ["R2K_BIN"], "client", "--runner",
            "tcp://127.0.0.1:%d" % srv.getsockname()[1], "--context", ctx,
            "--registry-credentials", "registry=reg:5000",
            "--registry-credentials", "username=ci",
            "--registry-credentials", "password=TopSecret1",
            "--registry-credentials=registry=other:1",
            "--registry-credentials=auth=U2VjcmV0Mg==",
            "--cache-registry", "cache:1/c",
            "--cache-registry-credentials", "password=TopSecret3",
            "--cache-registry-credentials", "username=cu"]
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        conn, _ = srv.accept()  # the client connects only after parsing its options
        with open("/proc/%d/cmdline" % p.pid, "rb") as f:
            cmdline = f.read()
        for secret in (b"TopSecret1", b"U2VjcmV0Mg==", b"TopSecret3"):
            assert secret not in cmdline, cmdline
        assert b"username=ci" in cmdline and b"registry=other:1" in cmdline
        assert b"password=**********" in cmdline
        conn.close()
    finally:
        p.kill()
        p.wait()
        srv.close()
    # The values themselves reach the runner untouched.
    r = request(ctx, "--registry-credentials", "registry=reg:5000",
                "--registry-credentials", "username=ci",
                "--registry-credentials", "password=TopSecret1")
    assert r["credentials"][0]["password"] == "TopSecret1"
