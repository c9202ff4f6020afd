"""The runner's TLS settings reach buildah: an HTTPS registry with a self-signed
certificate, on an address that is not loopback (for loopback registries neither
r2k nor buildah verify TLS). The address, 192.0.2.10 (TEST-NET-1), is given to the
loopback device of a network namespace of this test's own: nothing leaves it."""
import ctypes
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.join(os.environ["R2K_SOURCE_DIR"], "tests", "lib"))
import builders  # noqa: E402
import r2kwire as w  # noqa: E402
from clientrun import run_client  # noqa: E402
from registry import Registry  # noqa: E402

ADDR = "192.0.2.10"
CLONE_NEWNET = 0x40000000
MANIFEST_TYPES = ", ".join(["application/vnd.oci.image.manifest.v1+json",
                            "application/vnd.docker.distribution.manifest.v2+json"])


def enter_private_network():
    """Move this process (one test file, one process) into a new network namespace
    with lo up and ADDR on it; every process and socket made from now on is in it."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        pytest.skip("cannot make a network namespace: %s" % os.strerror(ctypes.get_errno()))
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    subprocess.run(["ip", "addr", "add", ADDR + "/32", "dev", "lo"], check=True)


@pytest.fixture(scope="module")
def env():
    if not shutil.which("buildah") or not shutil.which("ip") or os.geteuid() != 0:
        pytest.skip("needs buildah, ip and root")
    enter_private_network()
    tmp = tempfile.mkdtemp(prefix="r2k-test-buildah-tls-")
    store = builders.BuildahStore()
    try:
        with Registry(tls=True, address=ADDR) as reg:
            builders.push_busybox_base(store, reg.host + "/base/busybox:1")
            yield {"tmp": tmp, "ws": os.path.join(tmp, "ws"), "store": store, "reg": reg}
    finally:
        store.remove()
        shutil.rmtree(tmp, ignore_errors=True)


def tls_build(env, name, *runner_args):
    """Build FROM the HTTPS registry and push there, through a runner of its own."""
    reg = env["reg"]
    runner = w.Runner("--backend", "buildah", "--buildah", env["store"].wrapper,
                      "--workspace", env["ws"], "--isolation", "chroot",
                      "--storage-driver", "vfs", *runner_args)
    try:
        ctx = os.path.join(env["tmp"], name)
        os.makedirs(ctx)
        with open(os.path.join(ctx, "Dockerfile"), "w") as f:
            f.write("FROM %s/base/busybox:1\nRUN echo %s > /name\n" % (reg.host, name))
        p = run_client(["--runner", runner.addr, "--context", ctx,
                        "--destination", "%s/team/%s:1" % (reg.host, name)])
        assert runner.wait() == p.returncode, runner.log()[-3000:]
        return p, runner.log()
    finally:
        runner.stop()


def pushed(reg, name):
    status, _, _ = reg.request("GET", "/v2/team/%s/manifests/1" % name,
                               headers={"Accept": MANIFEST_TYPES})
    return status == 200


def test_registry_ca_file_reaches_buildah(env):
    """--registry-ca-file: the checks and buildah (through --cert-dir) trust that CA."""
    reg = env["reg"]
    p, log = tls_build(env, "tls-ca", "--registry-ca-file", "%s=%s" % (reg.host, reg.ca_file))
    err = p.stderr.decode()
    assert p.returncode == 0, (err[-3000:], log[-3000:])
    assert "r2k: check reachability %s: ok" % reg.host in err, err
    assert "--cert-dir=" in log and "--tls-verify=false" not in log, log[-3000:]
    assert pushed(reg, "tls-ca")


def test_registry_without_ca_fails_checks_and_buildah(env):
    """Without it, the checks see the TLS failure, and so does buildah itself."""
    reg = env["reg"]
    p, _ = tls_build(env, "tls-none-enforce")
    err = p.stderr.decode()
    assert p.returncode == 77, err[-3000:]
    assert "preflight check failed: reachability %s: tls" % reg.host in err, err
    p, log = tls_build(env, "tls-none-off", "--preflight", "off")
    err = p.stderr.decode()
    assert p.returncode not in (0, 76, 77), err[-3000:]
    assert "x509" in err or "certificate" in err, err[-3000:]
    assert not pushed(reg, "tls-none-off")


def test_skip_tls_verify_registry_reaches_buildah(env):
    """--skip-tls-verify-registry: the checks skip verification, and buildah gets
    --tls-verify=false for the commands that reach that registry."""
    reg = env["reg"]
    p, log = tls_build(env, "tls-skip", "--skip-tls-verify-registry", reg.host)
    err = p.stderr.decode()
    assert p.returncode == 0, (err[-3000:], log[-3000:])
    assert "r2k: check reachability %s: ok" % reg.host in err, err
    assert "--tls-verify=false" in log and "--cert-dir=" not in log, log[-3000:]
    assert pushed(reg, "tls-skip")
