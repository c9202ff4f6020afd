"""checkrun.py: run `r2k check --json` and return its results, for tests."""
import json
import os
import subprocess

PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")


def check_env():
    """The environment without proxies: every test request goes to loopback."""
    return {k: v for k, v in os.environ.items() if k not in PROXY_VARS}


class Run:
    def __init__(self, proc):
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.results = [json.loads(l) for l in proc.stdout.splitlines() if l.strip()]
        # r2k closes every handle before it exits; a leftover is a bug.
        assert "still had handles" not in proc.stderr, proc.stderr

    def get(self, kind, target=None):
        """The one result of this kind (and target, when given)."""
        found = [r for r in self.results
                 if r["kind"] == kind and (target is None or r["target"] == target)]
        assert len(found) == 1, (kind, target, self.results, self.stderr)
        return found[0]

    def __repr__(self):
        return "rc=%s results=%s stderr=%s" % (self.rc, self.results, self.stderr)


def run_check(*args, json_out=True, timeout=120, env=None):
    argv = [os.environ["R2K_BIN"], "check"] + (["--json"] if json_out else []) + list(args)
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                       env=env if env is not None else check_env(), stdin=subprocess.DEVNULL)
    return Run(p) if json_out else p


def creds(registry, username, password):
    return ["--registry-credentials", "registry=" + registry,
            "--registry-credentials", "username=" + username,
            "--registry-credentials", "password=" + password]
