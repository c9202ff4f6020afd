"""test_check_cli.py: r2k check's command line: usage errors, table output, secrets."""
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.environ["R2K_SOURCE_DIR"], "tests", "lib"))
from checkrun import run_check  # noqa: E402
from scriptedregistry import ScriptedRegistry  # noqa: E402

API = ("Docker-Distribution-Api-Version", "registry/2.0")


def test_usage_errors_exit_2():
    p = run_check(json_out=False)
    assert p.returncode == 2 and "nothing to check" in p.stderr
    p = run_check("Bad/Name", json_out=False)
    assert p.returncode == 2 and "invalid repository name" in p.stderr, p.stderr
    p = run_check("x.io", "--registry-credentials", "username=hidden-user", json_out=False)
    assert p.returncode == 2 and "registry=HOST must come first" in p.stderr
    assert "hidden-user" not in p.stderr
    p = run_check("x.io", "--registry-credentials", "registry=x.io",
                  "--registry-credentials", "password=only-pw", json_out=False)
    assert p.returncode == 2 and "need username and password" in p.stderr
    assert "only-pw" not in p.stderr
    p = run_check("x.io", "--registry-ca-file", "x.io", json_out=False)
    assert p.returncode == 2 and "HOST=FILE" in p.stderr
    p = run_check("x.io", "--registry-ca-file", "x.io=/nonexistent/ca.pem", json_out=False)
    assert p.returncode == 2 and "/nonexistent/ca.pem" in p.stderr
    p = run_check("--dockerfile", "/nonexistent/Dockerfile", json_out=False)
    assert p.returncode == 2 and "/nonexistent/Dockerfile" in p.stderr
    with tempfile.NamedTemporaryFile("w", suffix="Dockerfile") as f:
        f.write("FROM ${BROKEN\n")
        f.flush()
        p = run_check("--dockerfile", f.name, json_out=False)
        assert p.returncode == 2 and "line 1" in p.stderr, p.stderr
    # A malformed host or port is a usage error, never a request.
    for target in ("127.0.0.1:99999", "127.0.0.1:0/x", ":5000/x", "[::1", "a..b/x",
                   "http://[zz::1]:5/"):
        p = run_check(target, json_out=False)
        assert p.returncode == 2 and "invalid registry" in p.stderr, (target, p.stderr)
    p = run_check("x.io", "--timeout", "0", json_out=False)
    assert p.returncode == 2 and "--timeout" in p.stderr, p.stderr
    p = run_check("x.io", "--retries", "11", json_out=False)
    assert p.returncode == 2 and "--retries" in p.stderr, p.stderr
    p = run_check("--no-such-option", json_out=False)
    assert p.returncode == 2
    p = run_check("--help", json_out=False)
    assert p.returncode == 0 and "--registry-ca-file" in p.stdout


def test_table_output():
    def handle(req):
        if req.path == "/v2/":
            return 200, [API], b""
        return None

    with ScriptedRegistry(handle) as srv:
        p = run_check(srv.host, srv.host + "/missing/img:1", json_out=False)
        assert p.returncode == 1, p
        lines = p.stdout.splitlines()
        assert lines[0].split() == ["TARGET", "CHECK", "RESULT", "LATENCY", "DETAIL"]
        rows = {tuple(l.split()[:3]) for l in lines[1:]}
        assert (srv.host, "reachability", "ok") in rows
        assert (srv.host + "/missing/img:1", "manifest", "missing") in rows
        assert "(failed)" in p.stdout


def test_verbose_logs_each_request_without_secrets():
    def handle(req):
        if req.path == "/v2/":
            return 401, [API, ("WWW-Authenticate", 'Basic realm="r"')], b""
        return None

    with ScriptedRegistry(handle) as reg:
        host = reg.host
        p = run_check("-v", host, "--registry-credentials", "registry=" + host,
                      "--registry-credentials", "username=u",
                      "--registry-credentials", "password=very-secret-pw", json_out=False)
        debug = [l for l in p.stderr.splitlines() if " debug: " in l]
        assert any("GET http://%s/v2/: HTTP 401 (attempt 1)" % host in l for l in debug), p.stderr
        assert "very-secret-pw" not in p.stderr + p.stdout
        q = run_check(host, json_out=False)
        assert " debug: " not in q.stderr
