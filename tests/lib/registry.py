"""registry.py: run Debian's docker-registry on a free loopback port, for tests.

    from registry import Registry
    with Registry() as reg:                      # open, plain HTTP
        reg.host      # "127.0.0.1:PORT"
        reg.url       # "http://127.0.0.1:PORT"
        digest = reg.push_image("team/app", "v1")
    with Registry(auth="htpasswd", users={"alice": "secret"}) as reg: ...
    with TokenIssuer(users={"alice": "secret"}) as iss:
        with Registry(auth="token", issuer=iss) as reg: ...
    with Registry(tls=True) as reg:              # self-signed certificate
        reg.url       # "https://127.0.0.1:PORT"; reg.ca_file is the CA to trust
    with Registry(tls=True, address="192.0.2.10") as reg:  # an address of this network
        reg.host      # "192.0.2.10:PORT" (the certificate names it)     namespace

Everything (config, htpasswd, certificate, storage) lives in a temporary
directory removed on exit; the process is stopped (SIGTERM, then SIGKILL).
__enter__ waits until /v2/ answers. port= picks the port (default: a free one). push_image() uploads a tiny real
OCI image with http.client; push_index() an OCI index of pushed manifests.
"""
import gzip
import hashlib
import http.client
import io
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tarfile
import tempfile
import time
import urllib.parse

REGISTRY_BIN = "/usr/bin/docker-registry"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def free_port(address="127.0.0.1"):
    """A TCP port on address (default loopback) that was free a moment ago."""
    with socket.socket() as s:
        s.bind((address, 0))
        return s.getsockname()[1]


class Registry:
    def __init__(self, auth=None, users=None, issuer=None, tls=False, timeout=30, port=None,
                 address="127.0.0.1"):
        assert auth in (None, "htpasswd", "token")
        assert auth != "token" or issuer is not None, "token auth needs a TokenIssuer"
        self.auth = auth
        self.users = dict(users or {"user": "password"})
        self.issuer = issuer
        self.tls = tls
        self.timeout = timeout
        self.proc = None
        self.ca_file = None
        self.port = port
        self.address = address

    # -- lifecycle ---------------------------------------------------------
    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix="r2k-registry-")
        try:
            self._start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.proc.stderr.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def _start(self):
        self.port = self.port or free_port(self.address)
        self.host = "%s:%d" % (self.address, self.port)
        self.url = ("https://" if self.tls else "http://") + self.host
        cfg = ["version: 0.1",
               "log:", "  level: error", "  accesslog:", "    disabled: true",
               "storage:", "  filesystem:", "    rootdirectory: %s/data" % self.dir,
               "  delete:", "    enabled: true",
               "  maintenance:", "    uploadpurging:", "      enabled: false",
               "http:", "  addr: %s" % self.host, "  secret: r2k-test-secret"]
        if self.tls:
            self._make_cert()
            cfg += ["  tls:", "    certificate: %s" % self.cert_file,
                    "    key: %s" % self.key_file]
        if self.auth == "htpasswd":
            lines = []
            for u, p in self.users.items():
                out = subprocess.run(["htpasswd", "-Bbn", u, p], check=True,
                                     capture_output=True, text=True).stdout.strip()
                lines.append(out)
            path = os.path.join(self.dir, "htpasswd")
            with open(path, "w") as f:
                f.write("\n".join(lines) + "\n")
            cfg += ["auth:", "  htpasswd:", "    realm: r2k-test", "    path: %s" % path]
        elif self.auth == "token":
            cfg += ["auth:", "  token:", "    realm: %s" % self.issuer.realm,
                    "    service: %s" % self.issuer.service,
                    "    issuer: %s" % self.issuer.issuer,
                    "    rootcertbundle: %s" % self.issuer.cert_path]
        conf = os.path.join(self.dir, "config.yml")
        with open(conf, "w") as f:
            f.write("\n".join(cfg) + "\n")
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        self.proc = subprocess.Popen([REGISTRY_BIN, "serve", conf], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, env=env)
        deadline = time.monotonic() + self.timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("docker-registry exited with %s: %s" % (
                    self.proc.returncode, self.proc.stderr.read().decode(errors="replace")))
            try:
                self.request("GET", "/v2/")
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("docker-registry did not answer on %s" % self.host)
                time.sleep(0.05)

    def _make_cert(self):
        self.cert_file = os.path.join(self.dir, "cert.pem")
        self.key_file = os.path.join(self.dir, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=localhost", "-addext",
                        "subjectAltName=IP:%s,DNS:localhost" % self.address,
                        "-keyout", self.key_file, "-out", self.cert_file],
                       check=True, capture_output=True)
        self.ca_file = self.cert_file

    # -- HTTP helpers ------------------------------------------------------
    def _conn(self):
        if self.tls:
            ctx = ssl.create_default_context(cafile=self.ca_file)
            return http.client.HTTPSConnection(self.address, self.port, context=ctx, timeout=30)
        return http.client.HTTPConnection(self.address, self.port, timeout=30)

    def request(self, method, path, body=None, headers=None):
        """One request to the registry; returns (status, headers, body)."""
        c = self._conn()
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            return r.status, r.headers, r.read()
        finally:
            c.close()

    def _auth_headers(self, repo):
        if self.auth == "htpasswd":
            import base64
            u, p = next(iter(self.users.items()))
            return {"Authorization": "Basic " + base64.b64encode(
                ("%s:%s" % (u, p)).encode()).decode()}
        if self.auth == "token":
            return {"Authorization": "Bearer " + self.issuer.push_token(repo)}
        return {}

    def push_blob(self, repo, data):
        """Upload a blob; returns its digest."""
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        auth = self._auth_headers(repo)
        st, hd, body = self.request("POST", "/v2/%s/blobs/uploads/" % repo, b"", auth)
        assert st == 202, (st, body)
        loc = urllib.parse.urlsplit(hd["Location"])
        sep = "&" if loc.query else "?"
        path = loc.path + ("?" + loc.query if loc.query else "") + sep + "digest=" + digest
        h = dict(auth, **{"Content-Type": "application/octet-stream"})
        st, _, body = self.request("PUT", path, data, h)
        assert st == 201, (st, body)
        return digest

    def push_manifest(self, repo, ref, manifest, media_type):
        """PUT a manifest (dict); returns its digest."""
        data = json.dumps(manifest).encode()
        h = dict(self._auth_headers(repo), **{"Content-Type": media_type})
        st, _, body = self.request("PUT", "/v2/%s/manifests/%s" % (repo, ref), data, h)
        assert st == 201, (st, body)
        return "sha256:" + hashlib.sha256(data).hexdigest(), len(data)

    def push_image(self, repo, tag, files=None, arch="amd64"):
        """Push a one-layer OCI image holding files ({name: bytes}); returns the digest."""
        files = files or {"hello.txt": b"hello from r2k tests\n"}
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w") as t:
            for name, data in sorted(files.items()):
                ti = tarfile.TarInfo(name)
                ti.size = len(data)
                t.addfile(ti, io.BytesIO(data))
        layer_tar = raw.getvalue()
        layer = gzip.compress(layer_tar, mtime=0)
        config = json.dumps({
            "architecture": arch, "os": "linux", "config": {},
            "rootfs": {"type": "layers",
                       "diff_ids": ["sha256:" + hashlib.sha256(layer_tar).hexdigest()]},
        }).encode()
        cd = self.push_blob(repo, config)
        ld = self.push_blob(repo, layer)
        manifest = {
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": cd, "size": len(config)},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                        "digest": ld, "size": len(layer)}],
        }
        return self.push_manifest(repo, tag, manifest, OCI_MANIFEST)[0]

    def push_index(self, repo, tag, entries):
        """Push an OCI index of [(digest, size, arch)]; returns its digest."""
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": d, "size": s,
             "platform": {"os": "linux", "architecture": a}} for d, s, a in entries]}
        return self.push_manifest(repo, tag, index, OCI_INDEX)[0]

    def manifest_size(self, repo, ref):
        st, hd, _ = self.request("HEAD", "/v2/%s/manifests/%s" % (repo, ref),
                                 headers=dict(self._auth_headers(repo),
                                              Accept=OCI_MANIFEST))
        assert st == 200, st
        return int(hd["Content-Length"])
