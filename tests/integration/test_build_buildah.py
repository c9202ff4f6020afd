"""End to end: r2k client -> r2k runner -> buildah (chroot, vfs) -> docker-registry."""
import base64
import gzip
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import warnings

import pytest

sys.path.insert(0, os.path.join(os.environ["R2K_SOURCE_DIR"], "tests", "lib"))
import builders  # noqa: E402
import r2kwire as w  # noqa: E402
from clientrun import run_client  # noqa: E402
from registry import Registry  # noqa: E402

USER, PASSWORD = "ci", "pa:ss/w0rd:" + "x" * 40
MANIFEST_TYPES = ", ".join(["application/vnd.oci.image.manifest.v1+json",
                            "application/vnd.docker.distribution.manifest.v2+json"])


@pytest.fixture(scope="module")
def env():
    if not shutil.which("buildah") or os.geteuid() != 0:
        pytest.skip("needs buildah and root")
    tmp = tempfile.mkdtemp(prefix="r2k-test-buildah-")
    store = builders.BuildahStore()
    with Registry() as base_reg, Registry(auth="htpasswd", users={USER: PASSWORD}) as dest_reg:
        base = base_reg.host + "/base/busybox:1"
        builders.push_busybox_base(store, base)
        ws = os.path.join(tmp, "ws")
        runner = w.Runner("--backend", "buildah", "--buildah", store.recorder, "--workspace", ws,
                          "--multiple", "--isolation", "chroot", "--storage-driver", "vfs")
        try:
            yield {"tmp": tmp, "base": base, "base_reg": base_reg, "dest_reg": dest_reg,
                   "runner": runner, "ws": ws, "store": store}
            assert runner.stop() == 0, runner.log()[-3000:]
            assert os.listdir(ws) == []
        finally:
            runner.stop()
            store.remove()
            shutil.rmtree(tmp, ignore_errors=True)


def basic(user, password):
    return {"Authorization": "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()}


def registry_files(reg, repo, tag, auth):
    """The image's files: {path: bytes} over all layers, and its config."""
    status, _, body = reg.request("GET", "/v2/%s/manifests/%s" % (repo, tag),
                                  headers=dict(auth, Accept=MANIFEST_TYPES))
    assert status == 200, body
    manifest = json.loads(body)
    files = {}
    for layer in manifest["layers"]:
        status, _, blob = reg.request("GET", "/v2/%s/blobs/%s" % (repo, layer["digest"]), headers=auth)
        assert status == 200
        if blob[:2] == b"\x1f\x8b":
            blob = gzip.decompress(blob)
        with tarfile.open(fileobj=io.BytesIO(blob)) as t:
            for m in t.getmembers():
                if m.isfile():
                    files[m.name.lstrip("./")] = t.extractfile(m).read()
    status, _, cfg = reg.request("GET", "/v2/%s/blobs/%s" % (repo, manifest["config"]["digest"]),
                                 headers=auth)
    assert status == 200
    return files, json.loads(cfg)


def relayed_build(env, args):
    """Run the real client; check that it printed exactly what buildah wrote: stdout
    byte for byte, stderr with r2k's own lines left out. Returns the client's
    CompletedProcess and buildah's (stdout, stderr)."""
    env["store"].recorded(reset=True)
    p = run_client(["--runner", env["runner"].addr] + args)
    out, err = env["store"].recorded(reset=True)
    assert p.stdout == out, (p.stdout[-3000:], out[-3000:])
    ours = b"".join(line for line in p.stderr.splitlines(True) if not line.startswith(b"r2k: "))
    assert ours == err, (p.stderr[-3000:], err[-3000:])
    return p, (out, err)


def assert_run_output(p, buildah, line, stream):
    """A RUN step's line is on the client's stream (1 stdout, 2 stderr) and not on the
    other one, if buildah wrote it at all.

    buildah 1.28 with --isolation chroot can lose a RUN step's last output itself:
    its buildah-chroot-runtime process copies the command's stdout and stderr from
    pipes to its own in a goroutine, and calls os.Exit as soon as the command ended,
    without waiting for that goroutine. On a loaded machine the goroutine may not
    have run yet, and what the command wrote last is gone before r2k could read it
    (seen about once in 150 builds under two parallel test suites; with the relay's
    poll delayed by strace's fault injection, every time). relayed_build() checks
    r2k's part, that the client gets exactly what buildah wrote; this checks
    buildah's, and only warns when buildah dropped the line."""
    mine, other = (p.stdout, p.stderr) if stream == 1 else (p.stderr, p.stdout)
    if line not in buildah[stream - 1]:
        warnings.warn("buildah did not write its RUN step's %r (its chroot relay race): "
                      "not checked" % line)
        return
    assert line in mine and line not in other, \
        (p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace"))


def make_context(tmp, name, dockerfile, files):
    d = os.path.join(tmp, name)
    os.makedirs(d)
    with open(os.path.join(d, "Dockerfile"), "w") as f:
        f.write(dockerfile)
    for rel, data in files.items():
        with open(os.path.join(d, rel), "wb") as f:
            f.write(data)
    return d


def test_build_and_push_with_real_client(env):
    payload = os.urandom(200000) + b"end"
    ctx = make_context(env["tmp"], "ctx1", f"""FROM {env['base']}
ARG GREETING=hello
LABEL org.example.test=yes
RUN echo "to-stdout:$GREETING" && echo "to-stderr:$GREETING" >&2
COPY payload.bin /data/payload.bin
""", {"payload.bin": payload})
    dest = env["dest_reg"].host + "/team/app:1"
    p, buildah = relayed_build(env, [
        "--context", ctx, "--destination", dest,
        "--build-arg", "GREETING=bonjour", "--label", "org.example.source=r2k",
        "--insecure-registry", env["base_reg"].host,
        "--insecure-registry", env["dest_reg"].host,
        "--registry-credentials", "registry=" + env["dest_reg"].host,
        "--registry-credentials", "username=" + USER,
        "--registry-credentials", "password=" + PASSWORD])
    assert p.returncode == 0, (p.stdout[-3000:], p.stderr[-3000:], env["runner"].log()[-3000:])
    # buildah's own lines, written by its main process, are on their streams...
    assert b": RUN echo" in p.stdout and b"Getting image source signatures" in p.stderr
    # ... and so is the RUN step's output, when buildah passed it on.
    assert_run_output(p, buildah, b"to-stdout:bonjour\n", 1)
    assert_run_output(p, buildah, b"to-stderr:bonjour\n", 2)
    files, cfg = registry_files(env["dest_reg"], "team/app", "1", basic(USER, PASSWORD))
    assert files.get("data/payload.bin") == payload
    assert files.get("bin/busybox") == open("/bin/busybox", "rb").read()
    labels = cfg["config"]["Labels"]
    assert labels["org.example.test"] == "yes" and labels["org.example.source"] == "r2k"
    log = env["runner"].log()
    assert PASSWORD not in log and base64.b64encode(("%s:%s" % (USER, PASSWORD)).encode()).decode() not in log
    # The local image was removed after the push.
    images = env["store"].run("images", "--noheading").stdout
    assert "team/app" not in images


def test_run_exit_status_reaches_client(env):
    ctx = make_context(env["tmp"], "ctx2", f"FROM {env['base']}\nRUN echo failing; exit 3\n", {})
    p, buildah = relayed_build(env, ["--context", ctx, "--no-push",
                                     "--insecure-registry", env["base_reg"].host])
    assert p.returncode == 3, (p.stdout[-2000:], p.stderr[-2000:])
    assert_run_output(p, buildah, b"failing\n", 1)


def wrong_password_build(env, runner_addr, name):
    ctx = make_context(env["tmp"], name, f"FROM {env['base']}\nRUN true\n", {})
    dest = env["dest_reg"].host + "/team/denied:1"
    return run_client(["--runner", runner_addr, "--context", ctx, "--destination", dest,
                       "--insecure-registry", env["base_reg"].host,
                       "--insecure-registry", env["dest_reg"].host,
                       "--registry-credentials", "registry=" + env["dest_reg"].host,
                       "--registry-credentials", "username=" + USER,
                       "--registry-credentials", "password=wrong"])


def assert_not_pushed(env):
    status, _, _ = env["dest_reg"].request("GET", "/v2/team/denied/manifests/1",
                                           headers=dict(basic(USER, PASSWORD), Accept=MANIFEST_TYPES))
    assert status == 404


def test_wrong_password_stopped_by_preflight(env):
    p = wrong_password_build(env, env["runner"].addr, "ctx3")
    err = p.stderr.decode()
    assert p.returncode == 77, (p.returncode, err[-2000:])
    assert "runner error 6 (PREFLIGHT)" in err and "credentials refused" in err, err
    assert "buildah build started" not in err, err
    assert_not_pushed(env)


def test_wrong_password_fails_push_without_preflight(env):
    runner = w.Runner("--backend", "buildah", "--buildah", env["store"].wrapper,
                      "--workspace", env["ws"], "--preflight", "off",
                      "--isolation", "chroot", "--storage-driver", "vfs")
    try:
        p = wrong_password_build(env, runner.addr, "ctx3b")
        # buildah's own push failure: its status, not a runner refusal.
        assert p.returncode not in (0, 76, 77), (p.returncode, p.stderr[-2000:])
        assert b"check auth" not in p.stderr
        assert_not_pushed(env)
    finally:
        runner.stop()


def test_warm_pulls_base_images_first(env):
    ctx = make_context(env["tmp"], "ctx-warm", f"FROM {env['base']}\nRUN true\n", {})
    p = run_client(["--runner", env["runner"].addr, "--context", ctx, "--no-push", "--warm",
                    "--insecure-registry", env["base_reg"].host])
    err = p.stderr.decode()
    assert p.returncode == 0, err[-3000:]
    assert "r2k: check warm %s: warmed" % env["base"] in err, err
    assert err.index("buildah pull started") < err.index("buildah build started"), err


def test_cache_registry_layers_pushed_then_reused(env):
    """--cache-registry with buildah: buildah's layer cache (--layers --cache-from
    --cache-to) in that repository; a second build of the same Dockerfile takes its
    RUN layer from there."""
    ctx = make_context(env["tmp"], "ctx-cache", f"FROM {env['base']}\n"
                       "RUN echo built-$((6 * 7)) > /built\n", {})
    cache = env["base_reg"].host + "/team/buildah-cache"
    args = ["--runner", env["runner"].addr, "--context", ctx, "--no-push",
            "--insecure-registry", env["base_reg"].host, "--cache-registry", cache]
    first = run_client(args)
    err = first.stderr.decode()
    assert first.returncode == 0, err[-3000:]
    assert "r2k: check cache %s: cold" % cache in err, err
    assert b"--> Pushing cache " + cache.encode() in first.stdout, first.stdout[-3000:]
    status, _, body = env["base_reg"].request("GET", "/v2/team/buildah-cache/tags/list")
    assert status == 200 and json.loads(body)["tags"], body
    second = run_client(args)
    err = second.stderr.decode()
    assert second.returncode == 0, err[-3000:]
    assert "r2k: check cache %s: warm" % cache in err, err
    assert b"--> Cache pulled from remote " + cache.encode() in second.stdout, second.stdout[-3000:]
    assert b"--> Pushing cache" not in second.stdout, second.stdout[-3000:]


def test_cache_dir_ignored_with_a_warning(env):
    """--cache-dir names Kaniko's base-image cache: buildah has none, so no cache_dir
    checks run, the client is told, and every base image is pulled for --warm."""
    ctx = make_context(env["tmp"], "ctx-cachedir", f"FROM {env['base']}\nRUN true\n", {})
    p = run_client(["--runner", env["runner"].addr, "--context", ctx, "--no-push", "--warm",
                    "--cache-dir", "/nonexistent/kaniko-cache",
                    "--insecure-registry", env["base_reg"].host])
    err = p.stderr.decode()
    assert p.returncode == 0, err[-3000:]
    assert "r2k: warning: cache_dir '/nonexistent/kaniko-cache' ignored" in err, err
    assert "check cache_dir" not in err, err
    assert "r2k: check warm %s: warmed" % env["base"] in err, err
