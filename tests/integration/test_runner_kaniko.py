"""Runner with the Kaniko backend, through a stand-in executor: argv, env, credentials, context."""
import base64
import hashlib
import json
import os
import shutil
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.join(os.environ["R2K_SOURCE_DIR"], "tests", "lib"))
import builders  # noqa: E402
import r2kwire as w  # noqa: E402


@pytest.fixture
def tmp():
    d = tempfile.mkdtemp(prefix="r2k-test-kaniko-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_repo2kaniko_style_request(tmp):
    executor, record = builders.recording_executor(tmp)
    ws = os.path.join(tmp, "ws")
    env = {k: "" for k in os.environ if "PROXY" in k.upper() or k.startswith("SSL_CERT")}
    env.update({"LISTEN_FDS": "", "SECRET_RUNNER_VAR": "x", "PASSED_VAR": "p",
                "SSL_CERT_FILE": "/etc/r2k-test/ca.pem", "DOCKER_CONFIG": "/root/.docker"})
    runner = w.Runner("--preflight", "off", "--executor", executor, "--workspace", ws,
                      "--pass-env", "PASSED_VAR", env=env)
    try:
        password = "pa:ss" + "w" * 5000
        req = {
            "destinations": ["registry.example:5000/team/app:1", "registry.example:5000/team/app:latest"],
            "dockerfile": "sub/Dockerfile",
            "build_args": ["VERSION=1.2", "EMPTY=", "EQ=a=b"],
            "labels": ["org.example.source=repo", "x=y z"],
            "platform": "linux/amd64",
            "target": "final",
            "cache_repo": "cache.example:5001/team/cache",
            "cache_insecure": True,
            "insecure_registries": ["plain.example:5002"],
            "cache_dir": "/cache",
            "push": True,
            "credentials": [
                {"registry": "https://registry.example:5000/v1/", "username": "ci", "password": password},
                {"registry": "docker.io", "auth": base64.b64encode(b"hub:tok").decode()},
            ],
        }
        files = [("sub", None, 0o755), ("sub/Dockerfile", b"FROM scratch\nCOPY run.sh /\n", 0o644),
                 ("run.sh", b"#!/bin/sh\necho hi\n", 0o755), ("big.bin", os.urandom(3 << 20), 0o600)]
        data = w.make_tar(files, gz=True)
        res = w.build(runner.addr, req, data, chunk=100000)
        assert res.error is None, res.error
        assert res.exit == (0, 0, "sha256:" + "ab" * 32)
        assert res.stdout == b"INFO building with the stand-in executor\n"
        assert res.stderr == b"WARN stderr line\n"
        assert runner.wait() == 0, runner.log()
        log = runner.log()
    finally:
        runner.stop()

    rec = builders.load_record(record)
    wsdir = os.path.dirname(rec["env"]["DOCKER_CONFIG"])
    assert os.path.dirname(wsdir) == ws
    assert rec["argv"] == [
        executor,
        "--dockerfile=%s/context/sub/Dockerfile" % wsdir,
        "--context=dir://%s/context" % wsdir,
        "--destination=registry.example:5000/team/app:1",
        "--destination=registry.example:5000/team/app:latest",
        "--build-arg=VERSION=1.2",
        "--build-arg=EMPTY=",
        "--build-arg=EQ=a=b",
        "--label=org.example.source=repo",
        "--label=x=y z",
        "--custom-platform=linux/amd64",
        "--target=final",
        "--cache=true",
        "--cache-copy-layers=true",
        "--cache-run-layers=true",
        "--cache-repo=cache.example:5001/team/cache",
        "--insecure-registry=plain.example:5002",
        "--insecure-registry=cache.example:5001",
        "--cache-dir=/cache",
        "--digest-file=%s/digest" % wsdir,
        "--log-format=text",
    ]
    # Empty variables count as set: the runner passes them on as they are.
    assert {k: v for k, v in rec["env"].items() if v} == {
        "DOCKER_CONFIG": wsdir + "/docker", "HOME": rec["env"]["HOME"],
        "PATH": rec["env"]["PATH"], "PASSED_VAR": "p", "SSL_CERT_FILE": "/etc/r2k-test/ca.pem"}
    assert rec["env"]["DOCKER_CONFIG"] == wsdir + "/docker"
    cfg = json.loads(rec["config"])
    assert cfg == {"auths": {
        "registry.example:5000": {"auth": base64.b64encode(("ci:" + password).encode()).decode()},
        "https://index.docker.io/v1/": {"auth": base64.b64encode(b"hub:tok").decode()},
    }}
    assert rec["config_mode"] == "0o600"
    want = {"sub/Dockerfile": "644:" + hashlib.sha256(files[1][1]).hexdigest(),
            "run.sh": "755:" + hashlib.sha256(files[2][1]).hexdigest(),
            "big.bin": "600:" + hashlib.sha256(files[3][1]).hexdigest()}
    assert rec["files"] == want
    # The workspace, credentials included, is gone; no secret reached the log.
    assert os.listdir(ws) == []
    assert password not in log and "hub:tok" not in log and "aHViOnRvaw" not in log


def test_no_push_and_defaults(tmp):
    executor, record = builders.recording_executor(tmp)
    runner = w.Runner("--preflight", "off", "--executor", executor, "--workspace", os.path.join(tmp, "ws"))
    try:
        data = w.make_tar([("Dockerfile", b"FROM scratch\n", 0o644)])
        res = w.build(runner.addr, {"push": False}, data)
        assert res.exit is not None and res.exit[:2] == (0, 0), (res.error, runner.log())
        assert runner.wait() == 0
    finally:
        runner.stop()
    rec = builders.load_record(record)
    wsdir = os.path.dirname(rec["env"]["DOCKER_CONFIG"])
    assert rec["argv"][1:] == ["--dockerfile=%s/context/Dockerfile" % wsdir,
                               "--context=dir://%s/context" % wsdir, "--no-push",
                               "--digest-file=%s/digest" % wsdir, "--log-format=text"]
    assert json.loads(rec["config"]) == {"auths": {}}


def test_warm_runs_the_warmer_first(tmp):
    executor, record = builders.recording_executor(tmp)
    argv_file = os.path.join(tmp, "warmer-argv")
    warmer = builders.script_executor(tmp, 'printf "%%s\\n" "$0" "$@" > %s; echo warming; exit 1'
                                      % argv_file, name="warmer")
    runner = w.Runner("--preflight", "off", "--executor", executor, "--warmer", warmer,
                      "--workspace", os.path.join(tmp, "ws"))
    try:
        dockerfile = (b"ARG BASE=reg.example:5000/base:1\nFROM ${BASE} AS b\nRUN true\n"
                      b"FROM b\nFROM other.example/x:2\n")
        data = w.make_tar([("Dockerfile", dockerfile, 0o644)])
        res = w.build(runner.addr, {"warm": True, "cache_dir": "/cache/dir",
                                    "build_args": ["BASE=reg.example:5000/base:2"]}, data)
        assert res.exit is not None and res.exit[:2] == (0, 0), (res.error, runner.log())
        assert res.stdout.startswith(b"warming\n")
        assert any("kaniko warmer failed" in text for _, text in res.logs), res.logs
        assert runner.wait() == 0
    finally:
        runner.stop()
    assert open(argv_file).read().splitlines() == [
        warmer, "--cache-dir=/cache/dir", "--image=reg.example:5000/base:2",
        "--image=other.example/x:2"]
    assert os.path.exists(record)
