"""test_check_scripted.py: r2k check against scripted answers no real registry gives."""
import base64
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.environ["R2K_SOURCE_DIR"], "tests", "lib"))
from checkrun import creds, run_check  # noqa: E402
from scriptedregistry import ScriptedRegistry  # noqa: E402

API = ("Docker-Distribution-Api-Version", "registry/2.0")
DIGEST = "sha256:" + "ab" * 32
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def bearer_server(challenge_fmt, token_body, expect_scope=None):
    """/v2/ challenges with challenge_fmt (realm filled in); /token answers token_body."""
    state = {}

    def handle(req):
        if req.path.startswith("/token"):
            state["token_req"] = (req.path, req.headers.get("Authorization"))
            return 200, [("Content-Type", "application/json")], json.dumps(token_body).encode()
        if req.path == "/v2/":
            if req.headers.get("Authorization") == "Bearer TOK":
                return 200, [API], b"{}"
            realm = "http://%s/token" % srv.host
            return 401, [API, ("WWW-Authenticate", challenge_fmt % realm)], b""
        return None

    srv = ScriptedRegistry(handle)
    return srv, state


def test_challenge_with_commas_in_quotes():
    srv, state = bearer_server(
        'Bearer realm="%s",service="svc, with comma",scope="repository:a/b:pull,push"',
        {"token": "TOK"})
    with srv:
        r = run_check(srv.host, *creds(srv.host, "u", "p"))
        assert r.rc == 0, r
        assert r.get("auth")["status"] == "ok", r
        path, authz = state["token_req"]
        assert "service=svc%2C%20with%20comma" in path, path
        assert "scope=repository%3Aa%2Fb%3Apull%2Cpush" in path, path
        assert authz == "Basic " + base64.b64encode(b"u:p").decode()
        # Credentials go to the token service only, never to the registry.
        for method, p, headers in srv.requests:
            if p.startswith("/v2/"):
                assert not (headers.get("Authorization") or "").startswith("Basic"), p


def test_basic_and_bearer_in_one_header_prefers_bearer():
    srv, state = bearer_server('Basic realm="basic, realm", Bearer realm="%s",service="svc"',
                               {"token": "TOK"})
    with srv:
        r = run_check(srv.host, *creds(srv.host, "u", "p"))
        assert r.rc == 0, r
        assert "Bearer" in r.get("auth")["detail"]
        assert "token_req" in state


def test_token_answer_with_only_access_token():
    srv, state = bearer_server('Bearer realm="%s",service="svc"', {"access_token": "TOK"})
    with srv:
        r = run_check(srv.host, *creds(srv.host, "u", "p"))
        assert r.rc == 0, r
        assert r.get("auth")["status"] == "ok"


def test_several_www_authenticate_headers():
    def handle(req):
        if req.path == "/v2/":
            if req.headers.get("Authorization") == "Basic " + base64.b64encode(b"u:p").decode():
                return 200, [API], b""
            return 401, [API, ("WWW-Authenticate", 'Negotiate'),
                         ("WWW-Authenticate", 'Basic realm="r"')], b""
        return None

    with ScriptedRegistry(handle) as srv:
        r = run_check(srv.host, *creds(srv.host, "u", "p"))
        assert r.rc == 0, r
        assert r.get("auth")["detail"] == "credentials accepted (Basic)"


def test_rate_limited_with_retry_after_and_v2_slash():
    def handle(req):
        if req.path == "/v2":
            return 404, [], b""
        if req.path == "/v2/":
            return 200, [API], b"{}"
        if req.path == "/v2/limited/manifests/latest":
            return 429, [("Retry-After", "30")], b""
        if req.path == "/v2/plain/manifests/1":
            return 429, [], b""
        return None

    with ScriptedRegistry(handle) as srv:
        r = run_check(srv.host + "/limited", srv.host + "/plain:1")
        assert r.rc == 1, r
        assert r.get("reachability")["status"] == "ok"
        t = r.get("manifest", srv.host + "/limited")
        assert t["status"] == "rate_limited" and "Retry-After: 30" in t["detail"], t
        t = r.get("manifest", srv.host + "/plain:1")
        assert t["status"] == "rate_limited" and "Retry-After" not in t["detail"], t
        assert ("GET", "/v2", ) not in [(m, p) for m, p, h in srv.requests]


def test_image_only_answering_to_oci_accept():
    def handle(req):
        if req.path == "/v2/":
            return 200, [API], b""
        if req.path == "/v2/oci/only/manifests/v1":
            if OCI_INDEX in req.headers.get("Accept", ""):
                return 200, [("Docker-Content-Digest", DIGEST), ("Content-Type", OCI_INDEX)], b""
            return 404, [], b""
        return None

    with ScriptedRegistry(handle) as srv:
        r = run_check(srv.host + "/oci/only:v1")
        assert r.rc == 0, r
        assert r.get("manifest")["detail"] == DIGEST


def test_http_error_classification():
    with ScriptedRegistry(lambda req: (500, [], b"boom")) as srv:
        r = run_check(srv.host, srv.host + "/a/b")
        assert r.rc == 1, r
        assert r.get("reachability")["status"] == "http_error"
        assert "500" in r.get("reachability")["detail"]
        assert r.get("manifest")["status"] == "unreachable"
    with ScriptedRegistry(lambda req: (401, [], b"")) as srv:
        r = run_check(srv.host)
        assert r.get("reachability")["status"] == "http_error"
        assert "Docker-Distribution-Api-Version" in r.get("reachability")["detail"]


def test_timeout_when_server_never_answers():
    with ScriptedRegistry(silent=True) as srv:
        r = run_check(srv.host, "--timeout", "1", "--retries", "0")
        assert r.rc == 1, r
        t = r.get("reachability")
        assert t["status"] == "timeout", t
        assert t["latency_ms"] >= 900


def test_tag_pagination():
    def handle(req):
        if req.path == "/v2/":
            return 200, [API], b""
        if req.path == "/v2/c/r/tags/list":
            return 200, [("Link", '</v2/c/r/tags/list?last=c&n=3>; rel="next"')], \
                json.dumps({"name": "c/r", "tags": ["a", "b", "c"]}).encode()
        if req.path == "/v2/c/r/tags/list?last=c&n=3":
            return 200, [("Link", '<http://%s/v2/c/r/tags/list?last=e&n=3>; rel="next"'
                          % srv.host)], json.dumps({"tags": ["d", "e"]}).encode()
        if req.path == "/v2/c/r/tags/list?last=e&n=3":
            return 200, [], json.dumps({"tags": None}).encode()
        if req.path == "/v2/c/empty/tags/list":
            return 200, [], json.dumps({"name": "c/empty", "tags": []}).encode()
        return None

    with ScriptedRegistry(handle) as srv:
        r = run_check("--cache-repo", srv.host + "/c/r", "--cache-repo", srv.host + "/c/empty")
        assert r.rc == 0, r
        t = r.get("cache", srv.host + "/c/r")
        assert t["status"] == "warm" and t["detail"] == "5 tags", t
        assert r.get("cache", srv.host + "/c/empty")["status"] == "cold"


def test_concurrent_checks():
    def handle(req):
        if req.path == "/v2/":
            return 200, [API], b""
        if "/manifests/" in req.path:
            return 200, [("Docker-Content-Digest", DIGEST)], b""
        return None

    with ScriptedRegistry(handle, delay=0.2) as srv:
        targets = ["%s/img%d:t" % (srv.host, i) for i in range(16)]
        t0 = time.monotonic()
        r = run_check(*targets)
        elapsed = time.monotonic() - t0
        assert r.rc == 0, r
        assert len([x for x in r.results if x["kind"] == "manifest"]) == 16
        # 17 answers of 200 ms each: one for /v2/, then 16 at once.
        assert elapsed < 2.0, elapsed


def test_overlong_or_odd_token_realm():
    # A realm past the token URL's room used to overflow a stack buffer.
    for realm in ("http://%s/" + "a" * 2100, "/relative/token", "ftp://%s/token"):
        def handle(req):
            if req.path == "/v2/":
                r = realm % srv.host if "%s" in realm else realm
                return 401, [API, ("WWW-Authenticate",
                                   'Bearer realm="%s",service="svc",scope="x"' % r)], b""
            return 200, [], b'{"token": "T"}'

        srv = ScriptedRegistry(handle)
        with srv:
            r = run_check(srv.host, *creds(srv.host, "u", "p"))
            assert r.rc == 1, r
            t = r.get("auth")
            assert t["status"] == "http_error" and "realm" in t["detail"], t
            assert [p for m, p, h in srv.requests] == ["/v2/"], srv.requests


def test_pagination_loop_stops():
    def handle(req):
        if req.path == "/v2/":
            return 200, [API], b""
        if req.path.startswith("/v2/c/self/tags/list"):
            return 200, [("Link", '</v2/c/self/tags/list>; rel="next"')], b'{"tags":["a"]}'
        if req.path == "/v2/c/two/tags/list":
            return 200, [("Link", '</v2/c/two/tags/list?last=b>; rel="next"')], \
                b'{"tags":["a","b"]}'
        if req.path == "/v2/c/two/tags/list?last=b":
            return 200, [("Link", '</v2/c/two/tags/list>; rel="next"')], b'{"tags":["c"]}'
        return None

    with ScriptedRegistry(handle) as srv:
        r = run_check("--cache-repo", srv.host + "/c/self", "--cache-repo", srv.host + "/c/two")
        assert r.rc == 0, r
        t = r.get("cache", srv.host + "/c/self")
        assert t["status"] == "warm" and t["detail"].startswith("1 tags") and "back" in \
            t["detail"], t
        t = r.get("cache", srv.host + "/c/two")
        assert t["detail"].startswith("3 tags") and "back" in t["detail"], t
        assert len([p for m, p, h in srv.requests if "/tags/list" in p]) == 3, srv.requests


def test_unavailable_answers_are_retried():
    # A sidecar proxy answers 503 until the registry behind it is up.
    seen = []

    def handle(req):
        if req.path == "/v2/":
            seen.append(1)
            if len(seen) <= 2:
                return 503, [], b"upstream connect error"
            return 200, [API], b""
        return None

    with ScriptedRegistry(handle) as srv:
        r = run_check(srv.host, "--retries", "3")
        assert r.rc == 0, r
        assert len(seen) == 3
        seen.clear()
        r = run_check(srv.host, "--retries", "0")
        assert r.rc == 1, r
        t = r.get("reachability")
        assert t["status"] == "http_error" and "503" in t["detail"], t
        assert len(seen) == 1


def test_redirects_followed_without_leaking_credentials():
    basic = "Basic " + base64.b64encode(b"u:p").decode()

    def other_handle(req):
        if req.path.startswith("/token"):
            return 200, [], b'{"token": "TOK"}'
        return 200, [("Docker-Content-Digest", DIGEST)], b""

    with ScriptedRegistry(other_handle) as other:
        def handle(req):
            authz = req.headers.get("Authorization")
            if req.path == "/v2/":
                if authz == basic:
                    return 200, [API], b""
                return 401, [API, ("WWW-Authenticate", 'Basic realm="r"')], b""
            if req.path.startswith("/v2/moved/"):
                if authz != basic:
                    return 401, [API, ("WWW-Authenticate", 'Basic realm="r"')], b""
                return 307, [("Location", "http://%s%s" % (other.host, req.path))], b""
            return None

        with ScriptedRegistry(handle) as srv:
            r = run_check(srv.host + "/moved/img:1", *creds(srv.host, "u", "p"))
            assert r.rc == 0, r
            assert r.get("manifest")["detail"] == DIGEST
        # The token service redirects to another host: the credentials stay behind.
        def tok_handle(req):
            if req.path == "/v2/":
                if req.headers.get("Authorization") == "Bearer TOK":
                    return 200, [API], b""
                return 401, [API, ("WWW-Authenticate",
                                   'Bearer realm="http://%s/auth",service="s"' % tsrv.host)], b""
            if req.path.startswith("/auth"):
                return 302, [("Location", "http://%s/token" % other.host)], b""
            return None

        tsrv = ScriptedRegistry(tok_handle)
        with tsrv:
            r = run_check(tsrv.host, *creds(tsrv.host, "u", "p"))
            assert r.rc == 0, r
            assert r.get("auth")["status"] == "ok"
            assert [h.get("Authorization") for m, p, h in tsrv.requests
                    if p.startswith("/auth")] == [basic]
        assert other.requests and all("Authorization" not in h for m, p, h in other.requests), \
            other.requests


def test_answer_cut_short_is_retried():
    seen = []

    def handle(req):
        if req.path == "/v2/":
            return 200, [API], b""
        if req.path == "/v2/c/r/tags/list":
            seen.append(1)
            body = json.dumps({"name": "c/r", "tags": ["a", "b"]}).encode()
            return (200, [], body, 5) if len(seen) == 1 else (200, [], body)
        return None

    with ScriptedRegistry(handle) as srv:
        r = run_check("--cache-repo", srv.host + "/c/r")
        assert r.rc == 0, r
        assert r.get("cache")["detail"] == "2 tags"
        assert len(seen) == 2
        seen.clear()
        r = run_check("--cache-repo", srv.host + "/c/r", "--retries", "0")
        assert r.rc == 1, r
        assert r.get("cache")["status"] == "http_error", r


def test_tag_list_larger_than_kept_is_counted():
    # A busy Kaniko cache repository: one tag per cached layer, a list of 1.7 MB.
    tags = ["%064x" % i for i in range(25000)]

    def handle(req):
        if req.path == "/v2/":
            return 200, [API], b""
        if req.path == "/v2/c/big/tags/list":
            return 200, [("Link", '</v2/c/big/tags/list?last=z>; rel="next"')], \
                json.dumps({"name": "c/big", "tags": tags}).encode()
        if req.path == "/v2/c/big/tags/list?last=z":
            return 200, [], json.dumps({"name": "c/big", "tags": ["last"]}).encode()
        if req.path == "/v2/c/broken/tags/list":
            return 200, [], b'{"tags": ["' + b"x" * (2 << 20)
        return None

    with ScriptedRegistry(handle) as srv:
        r = run_check("--cache-repo", srv.host + "/c/big", "--cache-repo", srv.host + "/c/broken")
        assert r.rc == 1, r
        t = r.get("cache", srv.host + "/c/big")
        assert t["status"] == "warm" and t["detail"] == "25001 tags", t
        assert r.get("cache", srv.host + "/c/broken")["status"] == "http_error"
