"""tokenissuer.py: a small token service for docker-registry's token authentication, for tests.

    with TokenIssuer(users={"alice": "secret"}) as issuer:
        with Registry(auth="token", issuer=issuer) as reg:
            ...

It listens on a free loopback port, checks HTTP Basic credentials against
`users`, and answers GET /token?service=...&scope=... with an RS256 JWT
signed by a test key. The registry trusts the key through the certificate
written to `issuer.cert_path` (auth.token.rootcertbundle); the JWT names
the key by its libtrust key id (`kid`), which is how docker-registry finds it.

`policy(user, repo, actions) -> granted actions` decides what a token
allows; user is None for anonymous requests. The default grants an
authenticated user everything asked for and anonymous users "pull" only.
`requests` records (user, scope) of every token request, for assertions.
"""
import base64
import datetime
import hashlib
import http.server
import json
import os
import shutil
import tempfile
import threading
import time
import urllib.parse
import uuid

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

SERVICE = "r2k-test-registry"
ISSUER = "r2k-test-issuer"


def default_policy(user, repo, actions):
    if user is None:
        return [a for a in actions if a == "pull"]
    return list(actions)


def libtrust_kid(public_key):
    """The key id docker-registry computes for a trusted key."""
    der = public_key.public_bytes(serialization.Encoding.DER,
                                  serialization.PublicFormat.SubjectPublicKeyInfo)
    b32 = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
    return ":".join(b32[i:i + 4] for i in range(0, len(b32), 4))


class TokenIssuer:
    def __init__(self, users=None, policy=default_policy, only_access_token=False):
        self.users = dict(users or {})
        self.policy = policy
        self.only_access_token = only_access_token
        self.requests = []
        self.service = SERVICE
        self.issuer = ISSUER

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix="r2k-issuer-")
        try:
            self._make_key()
            issuer = self

            class Handler(http.server.BaseHTTPRequestHandler):
                def log_message(self, *a):
                    pass

                def do_GET(self):
                    issuer._serve(self)

            self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
            self.server.daemon_threads = True
            self.port = self.server.server_address[1]
            self.realm = "http://127.0.0.1:%d/token" % self.port
            self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
            self.thread.start()
        except BaseException:
            shutil.rmtree(self.dir, ignore_errors=True)
            raise
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)
        shutil.rmtree(self.dir, ignore_errors=True)

    def _make_key(self):
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "r2k test token signer")])
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(days=1))
                .not_valid_after(now + datetime.timedelta(days=2))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(self.key, hashes.SHA256()))
        self.cert_path = os.path.join(self.dir, "signer.pem")
        with open(self.cert_path, "wb") as f:
            f.write(cert.public_bytes(serialization.Encoding.PEM))
        self.kid = libtrust_kid(self.key.public_key())
        self.key_pem = self.key.private_bytes(serialization.Encoding.PEM,
                                              serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption())

    def token(self, user, access):
        """A signed token for user (None: anonymous) with these access entries."""
        now = int(time.time())
        claims = {"iss": self.issuer, "sub": user or "", "aud": self.service, "exp": now + 600,
                  "nbf": now - 60, "iat": now, "jti": uuid.uuid4().hex, "access": access}
        return jwt.encode(claims, self.key_pem, algorithm="RS256", headers={"kid": self.kid})

    def push_token(self, repo):
        """A token allowing push and pull on repo, for test set-up."""
        return self.token("setup", [{"type": "repository", "name": repo,
                                     "actions": ["pull", "push"]}])

    def _serve(self, h):
        url = urllib.parse.urlsplit(h.path)
        q = urllib.parse.parse_qs(url.query)
        user = None
        authz = h.headers.get("Authorization", "")
        if authz.startswith("Basic "):
            try:
                u, _, p = base64.b64decode(authz[6:]).decode().partition(":")
            except Exception:
                u, p = None, None
            if u not in self.users or self.users[u] != p:
                return self._answer(h, 401, {"details": "bad credentials"})
            user = u
        scope = q.get("scope", [None])[0]
        self.requests.append((user, scope))
        if url.path != "/token" or q.get("service", [None])[0] != self.service:
            return self._answer(h, 400, {"details": "bad request"})
        access = []
        for sc in q.get("scope", []):
            parts = sc.split(":")
            if len(parts) != 3:
                continue
            granted = self.policy(user, parts[1], parts[2].split(","))
            access.append({"type": parts[0], "name": parts[1], "actions": granted})
        tok = self.token(user, access)
        body = {"access_token": tok, "expires_in": 600}
        if not self.only_access_token:
            body["token"] = tok
        self._answer(h, 200, body)

    @staticmethod
    def _answer(h, status, obj):
        data = json.dumps(obj).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)
