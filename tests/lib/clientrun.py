"""clientrun: run `r2k client` against a FakeRunner in tests."""

import os
import socket
import subprocess

R2K = os.environ.get("R2K_BIN", "r2k")


def run_client(args, env=None, stdin=None, input=None, timeout=300, **kw):
    """Run r2k client with args; returns the CompletedProcess (bytes output)."""
    e = dict(os.environ)
    for k in ("R2K_RUNNER", "KANIKO_PUSH_IMAGE", "CONTAINER_ENGINE_REGISTRY_CREDENTIALS",
              "KANIKO_CACHE_REGISTRY_CREDENTIALS"):
        e.pop(k, None)
    if env:
        e.update(env)
    return subprocess.run([R2K, "client", "--progress=never"] + list(args), env=e, stdin=stdin,
                          input=input, capture_output=True, timeout=timeout, **kw)


def closed_port():
    """A loopback TCP port nothing listens on."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def peak_rss_kib(pid):
    """The high-water mark of a running process's resident memory (VmHWM), in KiB.

    Unlike ru_maxrss it does not count the memory of the process that forked it.
    None once the process has exited.
    """
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None
