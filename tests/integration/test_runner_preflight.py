"""Runner preflight: registry checks during the upload, enforce/warn/off, CHECK frames, metrics."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading

import pytest

sys.path.insert(0, os.path.join(os.environ["R2K_SOURCE_DIR"], "tests", "lib"))
import builders  # noqa: E402
from checkrun import PROXY_VARS  # noqa: E402
from clientrun import R2K, run_client  # noqa: E402
from registry import Registry  # noqa: E402
from runnerproc import Runner, get_metrics, metric, remove_tmp_path, wait_for  # noqa: E402,F401

USER, PASSWORD = "ci", "s3cret-pw"
NO_PROXY_ENV = {k: "" for k in PROXY_VARS}


@pytest.fixture
def tmp():
    d = tempfile.mkdtemp(prefix="r2k-test-preflight-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def regs():
    """An htpasswd registry holding a base image and a warm cache repository."""
    with Registry(auth="htpasswd", users={USER: PASSWORD}) as reg:
        reg.push_image("base/os", "1")
        reg.push_image("team/cache", "layer1")
        yield reg


def marker_executor(tmp):
    """A stand-in executor that records being started."""
    marker = os.path.join(tmp, "started")
    exe = builders.script_executor(tmp, "touch %s; echo built" % marker)
    return exe, marker


def start_runner(tmp, *args):
    exe, marker = marker_executor(tmp)
    ws = os.path.join(tmp, "ws")
    r = Runner("--multiple", "--executor", exe, "--workspace", ws, "-v", *args, env=NO_PROXY_ENV)
    return r, marker, ws


def context(tmp, dockerfile, name="ctx"):
    d = os.path.join(tmp, name)
    os.makedirs(d)
    with open(os.path.join(d, "Dockerfile"), "w") as f:
        f.write(dockerfile)
    return d


def creds(reg, password):
    return ["--registry-credentials", "registry=" + reg.host,
            "--registry-credentials", "username=" + USER,
            "--registry-credentials", "password=" + password]


def client(runner, args, **kw):
    return run_client(["--runner", "tcp://%s:%d" % runner.addr] + list(args),
                      env=NO_PROXY_ENV, **kw)


def test_wrong_password_stops_build_before_builder(tmp, regs):
    runner, marker, ws = start_runner(tmp)
    try:
        ctx = context(tmp, "FROM %s/base/os:1\n" % regs.host)
        p = client(runner, ["--context", ctx, "--destination", regs.host + "/team/app:1"]
                   + creds(regs, "wrong-password"))
        err = p.stderr.decode()
        assert p.returncode == 77, err
        assert "PREFLIGHT" in err and regs.host in err and "credentials refused" in err, err
        assert not os.path.exists(marker)
        assert os.listdir(ws) == []
        assert "wrong-password" not in runner.log
    finally:
        runner.stop()


def test_missing_base_image_stops_build(tmp, regs):
    runner, marker, ws = start_runner(tmp)
    try:
        image = regs.host + "/base/os:not-there"
        ctx = context(tmp, "ARG TAG=not-there\nFROM %s/base/os:${TAG}\nRUN true\n" % regs.host)
        p = client(runner, ["--context", ctx, "--no-push"] + creds(regs, PASSWORD))
        err = p.stderr.decode()
        assert p.returncode == 77, err
        assert "runner error 6 (PREFLIGHT)" in err and "base_image " + image in err, err
        assert "missing" in err
        assert not os.path.exists(marker)
        assert os.listdir(ws) == []
    finally:
        runner.stop()


GENERATOR = r"""
import io, os, sys, tarfile, time
out = sys.stdout.buffer
dockerfile, big, go = sys.argv[1].encode(), int(sys.argv[2]), sys.argv[3]
def header(name, size):
    ti = tarfile.TarInfo(name); ti.size = size; ti.mode = 0o644; ti.mtime = 1700000000
    return ti.tobuf(format=tarfile.PAX_FORMAT)
out.write(header("Dockerfile", len(dockerfile)) + dockerfile + b"\0" * (-len(dockerfile) % 512))
out.write(header("big.bin", big))
block = b"x" * (1 << 20)
sent = 0
try:
    while sent < big:
        n = min(len(block), big - sent)
        out.write(block[:n])
        sent += n
        if sent == 4 << 20:
            out.flush()
            for _ in range(1200):  # hold the rest back until the test says go
                if os.path.exists(go):
                    break
                time.sleep(0.05)
    out.write(b"\0" * (-big % 512) + b"\0" * 1024)
    out.flush()
except BrokenPipeError:
    pass
"""


def generator(tmp, dockerfile, size):
    gen = os.path.join(tmp, "gen.py")
    with open(gen, "w") as f:
        f.write(GENERATOR)
    go = os.path.join(tmp, "go")
    proc = subprocess.Popen([sys.executable, gen, dockerfile, str(size), go],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    return proc, go


@pytest.mark.parametrize("fault", ["password", "base_image"])
def test_preflight_failure_ends_upload_early(tmp, regs, fault):
    runner, marker, ws = start_runner(tmp)
    size = 200 << 20
    tag, password, reason = "1", "wrong-password", "credentials refused"
    if fault == "base_image":
        # Only known once the Dockerfile (first in the stream) is extracted: mid-upload.
        tag, password, reason = "missing", PASSWORD, "missing"
    gen, go = generator(tmp, "FROM %s/base/os:%s\n" % (regs.host, tag), size)
    try:
        # The generator holds back all but 4 MiB until told: the ERROR must come first.
        p = client(runner, ["--context", "-", "--destination", regs.host + "/team/app:1"]
                   + creds(regs, password), stdin=gen.stdout, timeout=120)
        err = p.stderr.decode()
        assert p.returncode == 77, err
        assert "runner error 6 (PREFLIGHT)" in err and reason in err and regs.host in err, err
        assert not os.path.exists(go)
        open(go, "w").close()
        gen.stdout.close()
        gen.wait(60)
        wait_for(lambda: os.listdir(ws) == [], what="workspace removed")
        received = metric(get_metrics(runner.addr), "r2k_context_bytes_received_total")
        # The wrong password may be known before any context arrived; the base image not.
        assert (0 if fault == "password" else 1) <= received < size // 4, received
        assert not os.path.exists(marker)
    finally:
        if gen.poll() is None:
            gen.kill()
            gen.wait()
        runner.stop()


def test_base_image_checked_while_uploading(tmp, regs):
    runner, marker, ws = start_runner(tmp)
    gen, go = generator(tmp, "FROM %s/base/os:1\n" % regs.host, 64 << 20)
    proc = subprocess.Popen([R2K, "client", "--progress=never", "--runner",
                             "tcp://%s:%d" % runner.addr, "--context", "-", "--no-push"]
                            + creds(regs, PASSWORD), stdin=gen.stdout, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=dict(os.environ, **NO_PROXY_ENV))
    gen.stdout.close()
    lines = []
    try:
        # The upload is held back after 4 MiB; the base-image result arrives meanwhile.
        for raw in proc.stderr:
            lines.append(raw.decode())
            if "check base_image" in lines[-1]:
                break
        assert lines and "check base_image %s/base/os:1: present" % regs.host in lines[-1], lines
        assert not os.path.exists(go) and not os.path.exists(marker)
        open(go, "w").close()
        out, rest = proc.communicate(timeout=120)
        assert proc.returncode == 0, "".join(lines) + rest.decode()
        assert out == b"built\n"
        assert os.path.exists(marker)
    finally:
        for p in (gen, proc):
            if p.poll() is None:
                p.kill()
                p.wait()
        runner.stop()


def test_warn_mode_builds_anyway(tmp, regs):
    runner, marker, ws = start_runner(tmp, "--preflight", "warn")
    try:
        ctx = context(tmp, "FROM %s/base/os:1\n" % regs.host)
        p = client(runner, ["--context", ctx, "--destination", regs.host + "/team/app:1"]
                   + creds(regs, "wrong-password"))
        err = p.stderr.decode()
        assert p.returncode == 0, err
        assert "r2k: error: check auth %s: FAILED bad_credentials" % regs.host in err, err
        assert "building anyway (--preflight=warn)" in err, err
        assert os.path.exists(marker)
        assert p.stdout == b"built\n"
    finally:
        runner.stop()


def test_off_sends_no_checks(tmp, regs):
    runner, marker, ws = start_runner(tmp, "--preflight", "off")
    try:
        ctx = context(tmp, "FROM %s/base/os:missing\n" % regs.host)
        p = client(runner, ["--json", "--context", ctx, "--destination",
                            regs.host + "/team/app:1"] + creds(regs, "wrong-password"))
        assert p.returncode == 0, p.stderr
        objs = [json.loads(l) for l in p.stdout.splitlines()]
        assert objs and not any("check" in o for o in objs), objs
        assert os.path.exists(marker)
        fams = get_metrics(runner.addr)
        for kind in ("reachability", "auth", "push", "base_image"):
            for res in ("passed", "failed"):
                assert metric(fams, "r2k_check_results_total", kind=kind, result=res) == 0
    finally:
        runner.stop()


def test_happy_path_checks_reach_the_client(tmp, regs):
    runner, marker, ws = start_runner(tmp)
    try:
        ctx = context(tmp, "FROM %s/base/os:1 AS b\nFROM b\n" % regs.host)
        dest = regs.host + "/team/app:1"
        args = ["--context", ctx, "--destination", dest,
                "--cache-registry", regs.host + "/team/cache"] + creds(regs, PASSWORD)
        p = client(runner, args)
        err = p.stderr.decode()
        assert p.returncode == 0, err
        assert p.stdout == b"built\n"
        for line in ["r2k: check reachability %s: ok" % regs.host,
                     "r2k: check auth %s: ok" % regs.host,
                     "r2k: check push %s: ok" % dest,
                     "r2k: check cache %s/team/cache: warm" % regs.host,
                     "r2k: check base_image %s/base/os:1: present" % regs.host]:
            assert line in err, (line, err)
        assert err.count("r2k: check auth") == 1, err
        before = get_metrics(runner.addr)

        p = client(runner, ["--json"] + args)
        assert p.returncode == 0, p.stderr
        checks = [json.loads(l)["check"] for l in p.stdout.splitlines()
                  if "check" in json.loads(l)]
        kinds = sorted(c["kind"] for c in checks)
        assert kinds == ["auth", "base_image", "cache", "push", "reachability"], checks
        assert all(c["passed"] and c["latency_ms"] >= 0 for c in checks), checks
        after = get_metrics(runner.addr)
        for kind in kinds:
            k = dict(kind=kind, result="passed")
            assert metric(after, "r2k_check_results_total", **k) == \
                metric(before, "r2k_check_results_total", **k) + 1, kind
            status = next(c["status"] for c in checks if c["kind"] == kind)
            k = dict(kind=kind, status=status)
            assert metric(after, "r2k_check_statuses_total", **k) == \
                metric(before, "r2k_check_statuses_total", **k) + 1, kind
    finally:
        runner.stop()


WARMER = r"""#!/bin/sh
# Records its arguments and, with a marker, how warm-ups interleave.
echo "start $$" >> %(log)s
printf '%%s\n' "$@" > %(argv)s.$$
sleep 0.5
echo "end $$" >> %(log)s
echo warmed-by-stand-in
"""


def test_warm_fills_only_cold_images_one_at_a_time(tmp, regs):
    """--warm: the warmer gets only the images the cache lacks, under a lock per cache dir."""
    cached = regs.push_image("base/warm", "cached", files={"a": b"cached"})
    regs.push_image("base/warm", "cold", files={"a": b"cold"})
    cache = os.path.join(tmp, "cache")
    os.makedirs(cache)
    with open(os.path.join(cache, cached), "w") as f:
        f.write("layer tarball stand-in")
    with open(os.path.join(cache, cached + ".json"), "w") as f:
        f.write("{}")
    log, argv = os.path.join(tmp, "warm.log"), os.path.join(tmp, "warm-argv")
    warmer = os.path.join(tmp, "warmer")
    with open(warmer, "w") as f:
        f.write(WARMER % {"log": log, "argv": argv})
    os.chmod(warmer, 0o755)
    runner, marker, ws = start_runner(tmp, "--warmer", warmer, "--max-builds", "2")
    try:
        dockerfile = ("FROM %s/base/warm:cached AS a\nFROM %s/base/warm:cold\n"
                      % (regs.host, regs.host))
        ctxs = [context(tmp, dockerfile, name="ctx%d" % i) for i in range(2)]
        procs = [subprocess.Popen([R2K, "client", "--progress=never", "--runner",
                                   "tcp://%s:%d" % runner.addr, "--context", c, "--no-push",
                                   "--warm", "--cache-dir", cache] + creds(regs, PASSWORD),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  env=dict(os.environ, **NO_PROXY_ENV)) for c in ctxs]
        outs = [p.communicate(timeout=120) for p in procs]
        for p, (out, err) in zip(procs, outs):
            err = err.decode()
            assert p.returncode == 0, err
            assert "r2k: check cache_dir %s/base/warm:cached: cached" % regs.host in err, err
            assert "r2k: check cache_dir %s/base/warm:cold: not_cached" % regs.host in err, err
            assert "r2k: check warm %s/base/warm:cold: warmed" % regs.host in err, err
            assert out == b"warmed-by-stand-in\nbuilt\n", out
        # Two warm-ups, never overlapping: start, end, start, end.
        events = [l.split()[0] for l in open(log).read().splitlines()]
        assert events == ["start", "end", "start", "end"], events
        for name in os.listdir(tmp):
            if name.startswith("warm-argv."):
                assert open(os.path.join(tmp, name)).read().splitlines() == [
                    "--cache-dir=" + cache, "--image=%s/base/warm:cold" % regs.host]
        assert any("waiting for another warm-up" in e.decode() for _, e in outs), outs
    finally:
        runner.stop()


def test_warm_skipped_when_everything_is_cached(tmp, regs):
    digest = regs.push_image("base/all", "1", files={"b": b"all"})
    cache = os.path.join(tmp, "cache")
    os.makedirs(cache)
    open(os.path.join(cache, digest), "w").close()
    warmer = builders.script_executor(tmp, "touch %s/warmer-ran" % tmp, name="warmer")
    runner, marker, ws = start_runner(tmp, "--warmer", warmer)
    try:
        ctx = context(tmp, "FROM %s/base/all:1\n" % regs.host)
        p = client(runner, ["--context", ctx, "--no-push", "--warm", "--cache-dir", cache]
                   + creds(regs, PASSWORD))
        err = p.stderr.decode()
        assert p.returncode == 0, err
        assert "every base image is already cached" in err, err
        assert not os.path.exists(os.path.join(tmp, "warmer-ran"))
        assert os.path.exists(marker)
    finally:
        runner.stop()


def test_changed_registry_ca_file_is_read_again(tmp):
    """A long-lived runner's checks follow a --registry-ca-file replaced on disk, as the
    builder (which reads it for each build) does: a CA taken out is no longer trusted."""
    with Registry(tls=True) as reg, Registry(tls=True) as other:
        reg.push_image("base/os", "1")
        ca = os.path.join(tmp, "ca.pem")
        shutil.copy(reg.ca_file, ca)
        runner, marker, ws = start_runner(tmp, "--registry-ca-file", "%s=%s" % (reg.host, ca))
        try:
            ctx = context(tmp, "FROM %s/base/os:1\n" % reg.host)
            p = client(runner, ["--context", ctx, "--no-push"])
            assert p.returncode == 0, p.stderr.decode()
            os.remove(marker)
            shutil.copy(other.ca_file, ca)
            p = client(runner, ["--context", ctx, "--no-push"])
            err = p.stderr.decode()
            assert p.returncode == 77 and "PREFLIGHT" in err, err
            assert not os.path.exists(marker)
            shutil.copy(reg.ca_file, ca)
            p = client(runner, ["--context", ctx, "--no-push"])
            assert p.returncode == 0, p.stderr.decode()
        finally:
            runner.stop()
