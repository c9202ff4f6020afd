"""The repo2docker engine package (packaging/repo2docker) against a stand-in repo2docker."""
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile

import pytest

SRC = os.environ.get("R2K_SOURCE_DIR", ".")
LIB = os.path.join(SRC, "tests", "lib")
STANDIN = os.path.join(LIB, "repo2docker_standin")
sys.path.insert(0, LIB)
from runnerproc import R2K, Runner, remove_tmp_path  # noqa: E402,F401

PY = sys.executable

# Stand-in `r2k` for checking the engine's side of the contract: records argv,
# the credential variables and stdin, writes to both streams, exits as told.
FAKE_R2K = r"""#!/usr/bin/env python3
import json, os, sys
rec = os.environ["R2K_TEST_RECORD"]
data = sys.stdin.buffer.read() if "-" in sys.argv else b""
json.dump({"argv": sys.argv[1:], "stdin_len": len(data),
           "reg": os.environ.get("CONTAINER_ENGINE_REGISTRY_CREDENTIALS"),
           "cache": os.environ.get("KANIKO_CACHE_REGISTRY_CREDENTIALS")}, open(rec, "w"))
open(rec + ".stdin", "wb").write(data)
print("STEP 1/2 : FROM scratch", flush=True)
print("r2k: check auth localhost:5000: ok", file=sys.stderr, flush=True)
print("STEP 2/2 : done", flush=True)
sys.exit(int(os.environ.get("R2K_TEST_RC", "0")))
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The package installed with pip (offline) into a private directory."""
    base = tmp_path_factory.mktemp("r2d")
    src = base / "src"
    shutil.copytree(os.path.join(SRC, "packaging", "repo2docker"), src)
    target = base / "site"
    subprocess.run([PY, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
                    "--no-build-isolation", "--target", str(target), str(src)],
                   check=True, capture_output=True, env=dict(os.environ, PIP_NO_WARN_SCRIPT_LOCATION="1",
                                                              PIP_ROOT_USER_ACTION="ignore"))
    return str(target)


def run_py(site, code, env=None, standin=True):
    path = [site] + ([STANDIN] if standin else [])
    e = dict(os.environ)
    for k in ("KANIKO_ADDRESS", "R2K_RUNNER", "KANIKO_PUSH_IMAGE", "KANIKO_CACHE_REGISTRY",
              "KANIKO_CACHE_REGISTRY_INSECURE", "KANIKO_CACHE_REGISTRY_CREDENTIALS",
              "CONTAINER_ENGINE_REGISTRY_CREDENTIALS", "KANIKO_CACHE_DIR"):
        e.pop(k, None)
    e.update(env or {})
    e["PYTHONPATH"] = os.pathsep.join(path)
    out = subprocess.run([PY, "-c", code], capture_output=True, text=True, env=e, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_entry_points_and_interface(site):
    res = run_py(site, """
import json
from repo2docker.engine import ContainerEngine, load_engine
out = {}
for name in ("r2k", "kaniko"):
    e = load_engine(name)
    out[name] = [type(e).__name__, isinstance(e, ContainerEngine), e.string_output,
                 e.inspect_image("x"), e.images()]
print(json.dumps(out))
""")
    assert res == {"r2k": ["R2kEngine", True, True, None, []],
                   "kaniko": ["KanikoEngine", True, True, None, []]}


def test_settings_from_environment_and_config(site):
    env = {"KANIKO_ADDRESS": "unix:///run/r2k.sock", "KANIKO_PUSH_IMAGE": "0",
           "KANIKO_CACHE_REGISTRY": "localhost:5000/cache",
           "KANIKO_CACHE_REGISTRY_INSECURE": "true",
           "KANIKO_CACHE_REGISTRY_CREDENTIALS": json.dumps({"username": "c", "password": "d"}),
           "CONTAINER_ENGINE_REGISTRY_CREDENTIALS": json.dumps(
               {"registry": "localhost:5000", "username": "u", "password": "p"}),
           "KANIKO_CACHE_DIR": "/cache"}
    code = """
import json
from traitlets.config import Application, Config
from repo2docker.engine import load_engine
e = load_engine("kaniko")
names = ("kaniko_address", "push_image", "cache_registry", "cache_registry_insecure",
         "cache_registry_credentials", "registry_credentials", "cache_dir")
out = {n: getattr(e, n) for n in names}
c = Config()
c.R2kEngine.kaniko_address = "tcp://runner:9000"
c.R2kEngine.push_image = True
e2 = load_engine("r2k", parent=Application(config=c))
out["configured"] = [e2.kaniko_address, e2.push_image]
print(json.dumps(out))
"""
    res = run_py(site, code, env)
    assert res["kaniko_address"] == "unix:///run/r2k.sock"
    assert res["push_image"] is False
    assert res["cache_registry"] == "localhost:5000/cache"
    assert res["cache_registry_insecure"] is True
    assert res["cache_registry_credentials"] == {"username": "c", "password": "d"}
    assert res["registry_credentials"]["registry"] == "localhost:5000"
    assert res["cache_dir"] == "/cache"
    assert res["configured"] == ["tcp://runner:9000", True]
    res = run_py(site, code)  # nothing in the environment: repo2kaniko's defaults
    assert res["push_image"] is False and res["kaniko_address"] == "tcp://localhost:8080"
    res = run_py(site, code.replace('load_engine("kaniko")', 'load_engine("r2k")'))
    assert res["kaniko_address"] == "tcp://127.0.0.1:9000"
    assert res["push_image"] is None  # r2k: push when repo2docker asks (and when it cannot say)
    # KANIKO_PUSH_IMAGE as repo2kaniko reads it, for both engines.
    for value, push in (("1", True), ("T", True), ("true", True), ("yes", False),
                        ("0", False), ("on", False)):
        for name in ("kaniko", "r2k"):
            res = run_py(site, code.replace('load_engine("kaniko")', 'load_engine("%s")' % name),
                         {"KANIKO_PUSH_IMAGE": value})
            assert res["push_image"] is push, (name, value)


def test_repo2kaniko_configuration_applies_to_engine_kaniko(site):
    """A repo2kaniko setup configures the KanikoEngine class (c.KanikoEngine.x in a config
    file, --KanikoEngine.x=... on repo2docker's command line); installing this package in
    its place must keep those settings, repo2kaniko-only ones included, without warnings."""
    res = run_py(site, """
import json, logging, io
from traitlets.config import Application, Config
from repo2docker.engine import load_engine
app = Application()
log = io.StringIO()
app.log.addHandler(logging.StreamHandler(log))
app.log.setLevel(logging.DEBUG)
c = Config()
c.KanikoEngine.kaniko_address = "tcp://kaniko-runner:12321"
c.KanikoEngine.push_image = False
c.KanikoEngine.cache_registry = "registry.example/cache"
c.KanikoEngine.cache_registry_insecure = True
c.KanikoEngine.cache_registry_credentials = {"username": "user", "password": "pw"}
c.KanikoEngine.registry_credentials = {"registry": "registry.example", "username": "u",
                                       "password": "p"}
c.KanikoEngine.cache_dir = "/cache"
c.KanikoEngine.kaniko_build_path = "/workspace/"
c.KanikoEngine.kaniko_executable = "/kaniko/executor"
c.KanikoEngine.login_executable = "skopeo"
c.KanikoEngine.kaniko_loglevel = "debug"
app.update_config(c)
e = load_engine("kaniko", parent=app)
out = {n: getattr(e, n) for n in ("kaniko_address", "push_image", "cache_registry",
       "cache_registry_insecure", "cache_registry_credentials", "registry_credentials",
       "cache_dir")}
out["warnings"] = [l for l in log.getvalue().splitlines() if "not recognized" in l]
r2k = Config()
r2k.R2kEngine.cache_dir = "/from-r2k-section"
e2 = load_engine("kaniko", parent=Application(config=r2k))
out["r2k_section"] = e2.cache_dir
print(json.dumps(out))
""")
    assert res["kaniko_address"] == "tcp://kaniko-runner:12321"
    assert res["push_image"] is False and res["cache_registry"] == "registry.example/cache"
    assert res["cache_registry_insecure"] is True and res["cache_dir"] == "/cache"
    assert res["cache_registry_credentials"] == {"username": "user", "password": "pw"}
    assert res["registry_credentials"]["registry"] == "registry.example"
    assert res["warnings"] == []
    assert res["r2k_section"] == "/from-r2k-section"


def test_push_after_build_from_another_engine(site, tmp_path):
    """repo2docker pushes with a new engine (get_engine() again): an image that build()
    pushed because repo2docker asked (push=True) is not refused as unpushed."""
    mode = """
e.push_image = False
out["lines"] = list(e.build(fileobj=io.BytesIO(tar), push=True, load=False, **kw))
e2 = load_engine("r2k")
e2.push_image = False
out["pushed"] = list(e2.push("localhost:5000/app:1"))
try:
    list(e2.push("localhost:5000/other:1"))
    out["other"] = None
except BuildError as exc:
    out["other"] = str(exc)
"""
    res = run_py(site, BUILD_CODE.replace("MODE", mode), fake_env(tmp_path))
    assert res["pushed"] == []
    assert "was not pushed" in res["other"]


def test_imports_without_repo2docker_or_traitlets(site):
    res = run_py(site, """
import json, sys
sys.modules["traitlets"] = None
sys.modules["repo2docker"] = None
from r2k_repo2docker import R2kEngine, client_command
e = R2kEngine()
argv, env = client_command(executable="r2k", address=e.kaniko_address, context="-")
print(json.dumps([e.kaniko_address, e.push_image, e.inspect_image("x"), argv[:2]]))
""", env={"KANIKO_ADDRESS": "tcp://h:1"}, standin=False)
    assert res == ["tcp://h:1", None, None, ["r2k", "client"]]


BUILD_CODE = """
import io, json, os, sys, tarfile
from repo2docker.engine import BuildError, load_engine
e = load_engine("r2k")
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w") as t:
    data = b"FROM scratch\\n"
    info = tarfile.TarInfo("Dockerfile"); info.size = len(data)
    t.addfile(info, io.BytesIO(data))
tar = buf.getvalue()
kw = dict(buildargs={"A": "1", "B": "x=y z"}, tag="localhost:5000/app:1",
          dockerfile="Dockerfile", labels={"org.example": "v"}, platform="linux/amd64")
out = {"tar_len": len(tar)}
MODE
print(json.dumps(out))
"""


def fake_env(tmp_path, rc=0):
    exe = tmp_path / "fake-r2k"
    exe.write_text(FAKE_R2K)
    exe.chmod(0o755)
    return {"R2K_EXECUTABLE": str(exe), "R2K_TEST_RECORD": str(tmp_path / "rec.json"),
            "R2K_TEST_RC": str(rc), "KANIKO_ADDRESS": "tcp://127.0.0.1:9",
            "KANIKO_CACHE_REGISTRY": "localhost:5000/cache",
            "KANIKO_CACHE_REGISTRY_INSECURE": "1",
            "KANIKO_CACHE_REGISTRY_CREDENTIALS": json.dumps({"username": "c", "password": "s3"}),
            "CONTAINER_ENGINE_REGISTRY_CREDENTIALS": json.dumps(
                {"registry": "localhost:5000", "username": "u", "password": "s3cret",
                 "tls-verify": "false"})}


def test_build_streams_tar_and_maps_arguments(site, tmp_path):
    mode = """
out["lines"] = list(e.build(fileobj=io.BytesIO(tar), push=True, load=False,
                            decode=True, rm=True, forcerm=True, **kw))
"""
    res = run_py(site, BUILD_CODE.replace("MODE", mode), fake_env(tmp_path))
    assert res["lines"] == ["STEP 1/2 : FROM scratch\n", "r2k: check auth localhost:5000: ok\n",
                            "STEP 2/2 : done\n"]
    rec = json.loads((tmp_path / "rec.json").read_text())
    assert (tmp_path / "rec.json.stdin").read_bytes()[:9] == b"Dockerfil"
    assert rec["stdin_len"] == res["tar_len"]
    argv = rec["argv"]
    assert argv[:6] == ["client", "--runner", "tcp://127.0.0.1:9", "--context", "-",
                        "--progress=never"]
    pairs = list(zip(argv, argv[1:]))
    for p in (("--destination", "localhost:5000/app:1"), ("--dockerfile", "Dockerfile"),
              ("--build-arg", "A=1"), ("--build-arg", "B=x=y z"), ("--label", "org.example=v"),
              ("--platform", "linux/amd64"), ("--cache-registry", "localhost:5000/cache")):
        assert p in pairs, p
    assert "--cache-registry-insecure" in argv and "--push" in argv
    assert not any("s3" in a for a in argv), "secrets never on the command line"
    reg = json.loads(rec["reg"])
    assert reg == {"registry": "localhost:5000", "username": "u", "password": "s3cret",
                   "insecure": True}
    assert json.loads(rec["cache"]) == {"username": "c", "password": "s3"}


def test_build_old_signature_path_and_no_push(site, tmp_path):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    mode = f"""
e.push_image = False
out["lines"] = list(e.build(path={str(ctx)!r}, buildargs={{}}, cache_from=[],
                            container_limits={{}}, tag="x:1", custom_context=False,
                            dockerfile="", fileobj=None))
"""
    res = run_py(site, BUILD_CODE.replace("MODE", mode), fake_env(tmp_path))
    assert len(res["lines"]) == 3
    argv = json.loads((tmp_path / "rec.json").read_text())["argv"]
    assert ("--context", str(ctx)) in list(zip(argv, argv[1:]))
    assert "--no-push" in argv and "--push" not in argv


def test_build_failure_raises_with_status(site, tmp_path):
    mode = """
lines = []
try:
    for l in e.build(fileobj=io.BytesIO(tar), **kw):
        lines.append(l)
    out["raised"] = None
except BuildError as exc:
    out["raised"] = [type(exc).__name__, exc.returncode, str(exc)]
out["lines"] = len(lines)
"""
    res = run_py(site, BUILD_CODE.replace("MODE", mode), fake_env(tmp_path, rc=3))
    assert res["raised"][0] == "R2kBuildError" and res["raised"][1] == 3
    assert "exit status 3" in res["raised"][2]
    assert res["lines"] == 3


HAVE_CLIENT = not os.path.exists(os.path.join(SRC, "src", "client_stub.c"))
HAVE_SESSION = not os.path.exists(os.path.join(SRC, "src", "session_stub.c"))

EXECUTOR = """#!/bin/sh
# Stand-in Kaniko: shows what it was given; fails when the Dockerfile asks it to.
ctx=""
prev=""
for a in "$@"; do
  case "$prev" in --context|-c) ctx="$a";; esac
  case "$a" in --context=*) ctx="${a#--context=}";; esac
  prev="$a"
done
ctx="${ctx#dir://}"
echo "executor args: $*"
echo "context files: $(cd "$ctx" && ls | tr '\\n' ' ')"
grep -q FAIL "$ctx/Dockerfile" && { echo "step failed" >&2; exit 4; }
echo "pushed"
"""


@pytest.mark.skipif(not (HAVE_CLIENT and HAVE_SESSION),
                    reason="needs the real r2k client and runner session (not in this tree)")
def test_end_to_end_with_real_client_and_runner(site, tmp_path):
    exe = tmp_path / "executor"
    exe.write_text(EXECUTOR)
    exe.chmod(0o755)
    with Runner("--multiple", "--executor", str(exe), "--preflight", "off",
                "--workspace", str(tmp_path / "builds")) as runner:
        addr = "tcp://%s:%d" % runner.addr
        env = {"R2K_EXECUTABLE": R2K, "KANIKO_ADDRESS": addr}
        mode = """
out["ok"] = list(e.build(fileobj=io.BytesIO(tar), **kw))
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w") as t:
    data = b"FROM scratch\\nFAIL\\n"
    info = tarfile.TarInfo("Dockerfile"); info.size = len(data)
    t.addfile(info, io.BytesIO(data))
try:
    list(e.build(fileobj=io.BytesIO(buf.getvalue()), **kw))
    out["failed"] = None
except BuildError as exc:
    out["failed"] = exc.returncode
"""
        res = run_py(site, BUILD_CODE.replace("MODE", mode), env)
    text = "".join(res["ok"])
    assert "context files: Dockerfile" in text and "pushed" in text
    assert "--destination" in text and "localhost:5000/app:1" in text
    assert res["failed"] == 4


@pytest.mark.skipif(not (HAVE_CLIENT and HAVE_SESSION) or not shutil.which("buildah")
                    or os.geteuid() != 0,
                    reason="needs the real client and session, buildah and root")
def test_end_to_end_buildah_and_registry(site, tmp_path):
    """repo2docker's tar context -> engine -> r2k client -> runner -> buildah -> registry."""
    import builders
    from registry import Registry

    store = builders.BuildahStore()
    try:
        with Registry(auth="htpasswd", users={"ci": "pw-secret"}) as reg:
            # Push the base image with the registry's credentials in a private config.
            base = reg.host + "/base/busybox:1"
            authfile = tmp_path / "auth.json"
            import base64
            authfile.write_text(json.dumps({"auths": {reg.host: {
                "auth": base64.b64encode(b"ci:pw-secret").decode()}}}))
            os.environ["REGISTRY_AUTH_FILE"] = str(authfile)
            try:
                builders.push_busybox_base(store, base)
            finally:
                del os.environ["REGISTRY_AUTH_FILE"]
            ws = tmp_path / "ws"
            with Runner("--multiple", "--backend", "buildah", "--buildah", store.wrapper,
                        "--isolation", "chroot", "--storage-driver", "vfs",
                        "--workspace", str(ws)) as runner:
                env = {"R2K_EXECUTABLE": R2K, "KANIKO_ADDRESS": "tcp://%s:%d" % runner.addr,
                       "CONTAINER_ENGINE_REGISTRY_CREDENTIALS": json.dumps(
                           {"registry": reg.host, "username": "ci", "password": "pw-secret",
                            "tls-verify": "false"})}
                mode = f"""
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w") as t:
    for name, data in (("Dockerfile", b"FROM {base}\\nARG A\\nRUN echo built-$A > /done\\n"),):
        info = tarfile.TarInfo(name); info.size = len(data)
        t.addfile(info, io.BytesIO(data))
out["lines"] = list(e.build(fileobj=io.BytesIO(buf.getvalue()), buildargs={{"A": "x"}},
                            tag="{reg.host}/team/app:1", labels={{"repo2docker.ref": "abc"}},
                            dockerfile="Dockerfile", push=True, load=False))
"""
                res = run_py(site, BUILD_CODE.replace("MODE", mode), env)
                log = runner.log
            text = "".join(res["lines"])
            assert "pw-secret" not in text and "pw-secret" not in log
            auth = {"Authorization": "Basic " + base64.b64encode(b"ci:pw-secret").decode(),
                    "Accept": "application/vnd.oci.image.manifest.v1+json, "
                              "application/vnd.docker.distribution.manifest.v2+json"}
            status, _, body = reg.request("GET", "/v2/team/app/manifests/1", headers=auth)
            assert status == 200, (status, body, text)
            manifest = json.loads(body)
            status, _, cfg = reg.request(
                "GET", "/v2/team/app/blobs/" + manifest["config"]["digest"], headers=auth)
            assert json.loads(cfg)["config"]["Labels"]["repo2docker.ref"] == "abc"
    finally:
        store.remove()
