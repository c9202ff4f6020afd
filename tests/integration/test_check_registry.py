"""test_check_registry.py: r2k check against Debian's docker-registry: open, htpasswd, token, TLS."""
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.environ["R2K_SOURCE_DIR"], "tests", "lib"))
from checkrun import check_env, creds, run_check  # noqa: E402
from registry import Registry, free_port  # noqa: E402
from tokenissuer import TokenIssuer  # noqa: E402


def test_open_registry_images_push_cache():
    with Registry() as reg:
        digest = reg.push_image("team/app", "v1")
        r = run_check(reg.host, reg.host + "/team/app:v1", "--cache-repo", reg.host + "/team/app",
                      "--cache-repo", reg.host + "/team/none")
        assert r.rc == 0, r
        assert r.get("reachability")["status"] == "ok"
        assert r.get("auth")["status"] == "anonymous"
        m = r.get("manifest")
        assert m["status"] == "present" and m["detail"] == digest and m["passed"]
        assert r.get("cache", reg.host + "/team/app")["status"] == "warm"
        assert r.get("cache", reg.host + "/team/app")["detail"] == "1 tags"
        cold = r.get("cache", reg.host + "/team/none")
        assert cold["status"] == "cold" and "NAME_UNKNOWN" in cold["detail"]
        for res in r.results:
            assert res["latency_ms"] >= 0

        r = run_check(reg.host + "/team/app:nope", reg.host + "/team/app@" + digest)
        assert r.rc == 1, r
        assert r.get("manifest", reg.host + "/team/app:nope")["status"] == "missing"
        assert not r.get("manifest", reg.host + "/team/app:nope")["passed"]
        assert r.get("manifest", reg.host + "/team/app@" + digest)["status"] == "present"

        # With --push a destination may not exist yet; the upload is cancelled.
        r = run_check("--push", reg.host + "/team/new:v1")
        assert r.rc == 0, r
        assert r.get("manifest")["status"] == "missing" and r.get("manifest")["passed"]
        p = r.get("push")
        assert p["status"] == "ok" and "cancelled" in p["detail"], p


def test_dockerfile_base_images_and_cache_dir():
    with Registry() as reg, tempfile.TemporaryDirectory() as tmp:
        d_base = reg.push_image("base/os", "1.0")
        d_amd = reg.push_image("multi/img", "amd64", arch="amd64",
                               files={"amd.txt": b"amd\n"})
        d_arm = reg.push_image("multi/img", "arm64", arch="arm64",
                               files={"arm.txt": b"arm\n"})
        reg.push_index("multi/img", "latest", [
            (d_amd, reg.manifest_size("multi/img", d_amd), "amd64"),
            (d_arm, reg.manifest_size("multi/img", d_arm), "arm64")])
        df = os.path.join(tmp, "Dockerfile")
        with open(df, "w") as f:
            f.write("ARG REG=nowhere.invalid\n"
                    "ARG TAG=0.0\n"
                    "FROM --platform=$BUILDPLATFORM ${REG}/base/os:${TAG} AS Builder\n"
                    "RUN true\n"
                    "FROM builder AS second\n"
                    "FROM scratch\n"
                    "FROM ${REG}/multi/img \\\n"
                    "  AS final\n"
                    "FROM ${REG}/base/missing:1\n")
        cache = os.path.join(tmp, "cache")
        os.mkdir(cache)
        # Kaniko's layout: the image tarball named by its digest, and DIGEST.json.
        open(os.path.join(cache, d_base), "wb").close()
        open(os.path.join(cache, d_base + ".json"), "wb").close()
        open(os.path.join(cache, d_arm), "wb").close()
        r = run_check("--dockerfile", df, "--build-arg", "REG=" + reg.host, "--build-arg",
                      "TAG=1.0", "--cache-dir", cache, "--platform", "linux/arm64")
        assert r.rc == 1, r  # base/missing is missing
        base = reg.host + "/base/os:1.0"
        assert r.get("base_image", base)["status"] == "present"
        assert r.get("base_image", base)["detail"] == d_base
        cd = r.get("cache_dir", base)
        assert cd["status"] == "cached" and "with manifest" in cd["detail"], cd
        multi = reg.host + "/multi/img"
        assert r.get("base_image", multi)["status"] == "present"
        cd = r.get("cache_dir", multi)
        assert cd["status"] == "cached" and d_arm in cd["detail"], cd
        assert r.get("base_image", reg.host + "/base/missing:1")["status"] == "missing"
        assert {x["target"] for x in r.results if x["kind"] == "base_image"} == {
            base, multi, reg.host + "/base/missing:1"}

        r = run_check("--dockerfile", df, "--build-arg", "REG=" + reg.host, "--cache-dir",
                      cache, "--platform", "linux/amd64")
        cd = r.get("cache_dir", multi)
        assert cd["status"] == "not_cached" and d_amd in cd["detail"], cd
        assert cd["passed"]


def test_htpasswd_basic_auth():
    with Registry(auth="htpasswd", users={"alice": "s3cret-pw"}) as reg:
        reg.push_image("x/y", "t")
        r = run_check(reg.host + "/x/y:t", "--push", *creds(reg.host, "alice", "s3cret-pw"))
        assert r.rc == 0, r
        assert r.get("auth")["status"] == "ok"
        assert r.get("manifest")["status"] == "present"
        assert r.get("push")["status"] == "ok"
        assert "s3cret-pw" not in r.stdout + r.stderr

        r = run_check(reg.host + "/x/y:t", *creds("http://" + reg.host + "/", "alice", "wrong-pw"))
        assert r.rc == 1, r
        assert r.get("auth")["status"] == "bad_credentials"
        assert r.get("manifest")["status"] == "unauthorized"
        assert "wrong-pw" not in r.stdout + r.stderr

        r = run_check(reg.host)
        assert r.rc == 1, r
        assert r.get("reachability")["status"] == "ok"
        assert r.get("auth")["status"] == "unauthorized"


def test_token_auth():
    def policy(user, repo, actions):
        if user == "alice":
            return actions
        if user == "bob":
            return [a for a in actions if a == "pull"]
        return []

    with TokenIssuer(users={"alice": "alice-pw", "bob": "bob-pw"}, policy=policy) as iss:
        with Registry(auth="token", issuer=iss) as reg:
            reg.push_image("x/y", "t")
            r = run_check(reg.host + "/x/y:t", "--push", *creds(reg.host, "alice", "alice-pw"))
            assert r.rc == 0, r
            assert r.get("auth")["status"] == "ok"
            assert r.get("manifest")["status"] == "present"
            assert r.get("push")["status"] == "ok"
            assert ("alice", "repository:x/y:push,pull") in iss.requests
            assert ("alice", "repository:x/y:pull") in iss.requests

            r = run_check(reg.host + "/x/y:t", "--push", *creds(reg.host, "bob", "bob-pw"))
            assert r.rc == 1, r
            assert r.get("auth")["status"] == "ok"
            assert r.get("manifest")["status"] == "present"
            assert r.get("push")["status"] == "forbidden", r

            r = run_check(reg.host + "/x/y:t", *creds(reg.host, "alice", "nope"))
            assert r.rc == 1, r
            assert r.get("auth")["status"] == "bad_credentials"
            assert r.get("manifest")["status"] == "unauthorized"

            r = run_check(reg.host + "/x/y:t", "--push")
            assert r.rc == 1, r
            assert r.get("auth")["status"] == "anonymous"
            assert r.get("manifest")["status"] == "unauthorized"
            assert r.get("push")["status"] == "unauthorized"


def test_tls_self_signed():
    with Registry(tls=True) as reg:
        target = "https://" + reg.host
        r = run_check(target, "--registry-ca-file", reg.host + "=" + reg.ca_file)
        assert r.rc == 0, r
        assert r.get("reachability")["detail"].startswith("https://")

        r = run_check(target, "--retries", "0")
        assert r.rc == 1, r
        t = r.get("reachability")
        assert t["status"] == "tls" and "certificate" in t["detail"], t

        r = run_check(target, "--skip-tls-verify-registry", reg.host)
        assert r.rc == 0, r

        # A CA file (or skip-verify) for a loopback host means HTTPS without https://.
        reg.push_image("a/b", "c")
        r = run_check(reg.host + "/a/b:c", "--registry-ca-file", reg.host + "=" + reg.ca_file)
        assert r.rc == 0, r
        assert r.get("manifest")["status"] == "present"


def test_refused_then_late_registry():
    port = free_port()
    r = run_check("127.0.0.1:%d" % port, "--retries", "1", "--timeout", "5")
    assert r.rc == 1, r
    t = r.get("reachability")
    assert t["status"] == "refused" and "2 attempts" in t["detail"], t

    # A registry that comes up a second late is reached thanks to the retries.
    argv = [os.environ["R2K_BIN"], "check", "--json", "--retries", "6", "127.0.0.1:%d" % port]
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=check_env())
    try:
        time.sleep(1.0)
        with Registry(port=port):
            out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0, (out, err)
    assert '"status":"ok"' in out


def test_scheme_choice():
    with Registry() as reg:
        # A loopback host tries HTTPS first and falls back to plain HTTP, as Kaniko does:
        # naming a CA or skip-verify for it changes only how the HTTPS attempt goes.
        r = run_check(reg.host, "--skip-tls-verify-registry", reg.host, "--retries", "0")
        assert r.rc == 0, r
        assert r.get("reachability")["detail"].startswith("http://"), r
        r = run_check(reg.host, "--skip-tls-verify-registry", reg.host,
                      *creds(reg.host, "u", "p"), "--registry-credentials", "insecure=true")
        assert r.rc == 0, r
        assert r.get("reachability")["detail"].startswith("http://")
        # An explicit scheme wins over everything.
        r = run_check("http://" + reg.host, "--skip-tls-verify-registry", reg.host)
        assert r.rc == 0, r
        r = run_check("https://" + reg.host, "--skip-tls-verify-registry", reg.host,
                      "--retries", "0")
        assert r.rc == 1, r
        assert r.get("reachability")["status"] == "tls", r

        # An IPv4-mapped IPv6 address reaches the same server but is no local name:
        # HTTPS only, unless marked insecure.
        mapped = "[::ffff:127.0.0.1]:%d" % reg.port
        r = run_check(mapped, "--retries", "0")
        assert r.rc == 1, r
        t = r.get("reachability")
        assert t["status"] == "tls" and t["detail"].startswith("https://"), t
        r = run_check(mapped, "--insecure-registry", mapped, "--retries", "0")
        assert r.rc == 0, r
        assert r.get("reachability")["detail"].startswith("http://")
        reg.push_image("m/n", "1")
        r = run_check(mapped + "/m/n:1", "--insecure-registry", mapped)
        assert r.rc == 0, r
        assert r.get("manifest")["status"] == "present"


def test_tls_registry_on_loopback_tried_with_https_first():
    with Registry(tls=True) as reg:
        reg.push_image("a/b", "c")
        # Untrusted certificate: HTTPS fails, plain HTTP is no registry: a TLS failure.
        r = run_check(reg.host, "--retries", "0")
        assert r.rc == 1, r
        t = r.get("reachability")
        assert t["status"] == "tls", t
        assert "self-signed certificate" in t["detail"] and "HTTP 400" in t["detail"], t
        # A loopback host with no flag at all is reached over HTTPS once its CA is trusted,
        # here through SSL_CERT_FILE, which Kaniko honours too.
        env = dict(check_env(), SSL_CERT_FILE=reg.ca_file)
        r = run_check(reg.host, reg.host + "/a/b:c", env=env)
        assert r.rc == 0, r
        assert r.get("reachability")["detail"].startswith("https://"), r
        assert r.get("manifest")["status"] == "present"
        r = run_check("https://" + reg.host, env=env)
        assert r.rc == 0, r
        # So does a CA named with --registry-ca-file, and skip-verify.
        r = run_check(reg.host, "--registry-ca-file", reg.host + "=" + reg.ca_file)
        assert r.rc == 0, r
        assert r.get("reachability")["detail"].startswith("https://"), r
        r = run_check("localhost:%d/a/b:c" % reg.port, "--skip-tls-verify-registry",
                      "localhost:%d" % reg.port)
        assert r.rc == 0, r
        assert r.get("manifest")["status"] == "present"


def test_ca_bundle_read_once_for_registries_checked_together(tmp_path):
    """Registries checked at once share one CA store: the bundle is read and parsed
    once, not once per connection (parsing a system bundle takes ~25 ms of the loop's
    time), and every certificate is still verified against it."""
    import shutil
    if not shutil.which("strace"):
        import pytest
        pytest.skip("needs strace")
    regs = [Registry(tls=True) for _ in range(4)]
    for r in regs:
        r.__enter__()
    try:
        bundle = tmp_path / "bundle.pem"
        bundle.write_text("".join(open(r.ca_file).read() for r in regs))
        env = dict(check_env(), SSL_CERT_FILE=str(bundle))
        env.pop("SSL_CERT_DIR", None)
        # LeakSanitizer cannot run under ptrace (make sanitize): leaks are checked elsewhere.
        env["ASAN_OPTIONS"] = ":".join(filter(None, [env.get("ASAN_OPTIONS"), "detect_leaks=0"]))
        trace = tmp_path / "trace"
        p = subprocess.run(["strace", "-f", "-e", "trace=openat", "-o", str(trace),
                            os.environ["R2K_BIN"], "check", "--json"] + [r.host for r in regs],
                           capture_output=True, text=True, env=env, timeout=120)
        assert p.returncode == 0, p.stderr
        opened = [l for l in open(trace) if str(bundle) in l]
        assert len(opened) == 1, opened
        # Verification still happens: without the bundle, each is a TLS failure.
        r = run_check(*[r.host for r in regs], "--retries", "0")
        assert r.rc == 1 and all(x["status"] == "tls" for x in r.results
                                 if x["kind"] == "reachability"), r
    finally:
        for r in regs:
            r.__exit__(None, None, None)


def test_each_registry_verified_against_its_own_ca_store(tmp_path):
    """Registries checked together with different CA files each get their own store:
    libcurl's CA cache (one store per multi handle, keyed by a CA file the shared
    stores leave unset) must not hand the first connection's store to the others."""
    regs = [Registry(tls=True) for _ in range(2)]
    for r in regs:
        r.__enter__()
    try:
        a, b = regs
        bundle = tmp_path / "bundle.pem"
        bundle.write_text(open(a.ca_file).read() + open(b.ca_file).read())
        env = dict(check_env(), SSL_CERT_FILE=str(bundle))
        env.pop("SSL_CERT_DIR", None)
        for _ in range(3):
            # Each with its own CA file: both verified.
            r = run_check(a.host, b.host, "--retries", "0",
                          "--registry-ca-file", "%s=%s" % (a.host, a.ca_file),
                          "--registry-ca-file", "%s=%s" % (b.host, b.ca_file))
            assert r.rc == 0, r
            # B's CA file is A's CA: B's certificate is refused, although the bundle
            # trusted for A (SSL_CERT_FILE) holds B's CA.
            r = run_check(a.host, b.host, "--retries", "0",
                          "--registry-ca-file", "%s=%s" % (b.host, a.ca_file), env=env)
            assert r.get("reachability", a.host)["status"] == "ok", r
            assert r.get("reachability", b.host)["status"] == "tls", r
    finally:
        for r in regs:
            r.__exit__(None, None, None)
