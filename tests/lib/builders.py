"""builders: stand-in builder executables for runner tests, and a busybox base image."""
import json
import os
import shutil
import stat
import subprocess
import tempfile

PY = "/usr/bin/python3"


def _write_script(path, body):
    with open(path, "w") as f:
        f.write(body)
    os.chmod(path, 0o755)
    return path


def recording_executor(directory):
    """A stand-in Kaniko executor: records argv, environment, the config.json it was
    pointed at and a checksum of the context it sees into DIR/record.json; exits 0."""
    record = os.path.join(directory, "record.json")
    return _write_script(os.path.join(directory, "executor"), f"""#!{PY}
import hashlib, json, os, sys
args = sys.argv[1:]
opt = dict(a[2:].split("=", 1) for a in args if a.startswith("--") and "=" in a)
ctx = opt.get("context", "").removeprefix("dir://")
files = {{}}
for root, dirs, names in os.walk(ctx):
    for n in sorted(names + [d for d in dirs if os.path.islink(os.path.join(root, d))]):
        p = os.path.join(root, n)
        rel = os.path.relpath(p, ctx)
        if os.path.islink(p):
            files[rel] = "link:" + os.readlink(p)
        else:
            st = os.stat(p)
            files[rel] = "%o:%s" % (st.st_mode & 0o7777, hashlib.sha256(open(p, "rb").read()).hexdigest())
cfg = os.path.join(os.environ.get("DOCKER_CONFIG", "/nonexistent"), "config.json")
# The environment as exec'd (Python itself may add LC_CTYPE to os.environ).
env = dict(e.split("=", 1) for e in open("/proc/self/environ").read().split(chr(0)) if e)
rec = {{"argv": sys.argv, "env": env, "cwd": os.getcwd(), "files": files,
       "config": open(cfg).read() if os.path.exists(cfg) else None,
       "config_mode": oct(os.stat(cfg).st_mode & 0o777) if os.path.exists(cfg) else None,
       "dockerfile": open(opt["dockerfile"]).read() if "dockerfile" in opt else None}}
with open({record!r}, "w") as f:
    json.dump(rec, f)
if "digest-file" in opt:
    open(opt["digest-file"], "w").write("sha256:" + "ab" * 32)
print("INFO building with the stand-in executor")
print("WARN stderr line", file=sys.stderr)
"""), record


def script_executor(directory, body, name="executor"):
    """A stand-in builder running a /bin/sh script body (whatever argv it gets)."""
    return _write_script(os.path.join(directory, name), "#!/bin/sh\n" + body + "\n")


def load_record(path):
    with open(path) as f:
        return json.load(f)


# Runs buildah with the store's options, relays its stdout and stderr as they come
# and appends a copy of each to RECORD.out and RECORD.err (not for "rmi", whose
# output the runner does not relay); exits with buildah's status once both of its
# streams are at EOF, so that the copy is all buildah wrote, and nothing is left
# running behind it.
RECORDER = """#!%(py)s
import os, selectors, subprocess, sys
argv = %(argv)r + sys.argv[1:]
record = "rmi" not in sys.argv[1:]
p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
copies = {p.stdout.fileno(): (1, %(record)r + ".out"), p.stderr.fileno(): (2, %(record)r + ".err")}
sel = selectors.DefaultSelector()
for fd in copies:
    sel.register(fd, selectors.EVENT_READ)
while sel.get_map():
    for key, _ in sel.select():
        data = os.read(key.fd, 65536)
        if not data:
            sel.unregister(key.fd)
            continue
        out, path = copies[key.fd]
        if record:
            with open(path, "ab") as f:
                f.write(data)
        view = memoryview(data)
        while view:
            view = view[os.write(out, view):]
rc = p.wait()
sys.exit(rc if rc >= 0 else 128 - rc)
"""


class BuildahStore:
    """A private buildah storage (root and runroot in a temporary directory) and a
    wrapper executable that points buildah at it; remove() deletes everything.

    `recorder` is a second wrapper that also keeps a copy of everything buildah
    writes (recorded() returns it), to compare with what a client received."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="r2k-buildah-")
        self.root = os.path.join(self.dir, "root")
        self.runroot = os.path.join(self.dir, "runroot")
        self.wrapper = _write_script(os.path.join(self.dir, "buildah"), f"""#!/bin/sh
exec /usr/bin/buildah --root={self.root} --runroot={self.runroot} "$@"
""")
        self.record = os.path.join(self.dir, "record")
        self.recorder = _write_script(os.path.join(self.dir, "buildah-recorder"), RECORDER % {
            "py": PY, "record": self.record,
            "argv": ["/usr/bin/buildah", "--root=" + self.root, "--runroot=" + self.runroot]})

    def recorded(self, reset=False):
        """(stdout, stderr) that buildah wrote through the recorder since the last reset."""
        res = []
        for ext in (".out", ".err"):
            path = self.record + ext
            res.append(open(path, "rb").read() if os.path.exists(path) else b"")
            if reset and os.path.exists(path):
                os.unlink(path)
        return tuple(res)

    def run(self, *args, **kw):
        return subprocess.run([self.wrapper, "--storage-driver=vfs"] + list(args), check=True,
                              capture_output=True, text=True, **kw)

    def remove(self):
        subprocess.run([self.wrapper, "--storage-driver=vfs", "rm", "--all"], capture_output=True)
        subprocess.run([self.wrapper, "--storage-driver=vfs", "rmi", "--all", "--force"],
                       capture_output=True)
        # vfs layers may hold read-only directories; make them removable first.
        for root, dirs, _ in os.walk(self.dir):
            for d in dirs:
                p = os.path.join(root, d)
                if not os.path.islink(p):
                    os.chmod(p, stat.S_IRWXU)
        subprocess.run(["umount", "-R", self.runroot], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)


def push_busybox_base(store, ref):
    """Make a base image from busybox-static (busybox, plus /bin/sh and the applets as
    symlinks) and push it to ref (plain HTTP registry)."""
    c = store.run("from", "scratch").stdout.strip()
    try:
        store.run("copy", c, "/bin/busybox", "/bin/busybox")
        store.run("run", "--isolation=chroot", c, "/bin/busybox", "--install", "-s", "/bin")
        store.run("config", "--env", "PATH=/bin", c)
        store.run("commit", c, "r2k-test-base")
        store.run("push", "--tls-verify=false", "r2k-test-base", "docker://" + ref)
    finally:
        store.run("rm", c)
        subprocess.run([store.wrapper, "--storage-driver=vfs", "rmi", "-f", "r2k-test-base"],
                       capture_output=True)
