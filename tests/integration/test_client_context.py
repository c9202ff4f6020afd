"""r2k client: the context stream it produces from directories and relays from stdin."""

import gzip
import hashlib
import io
import os
import shutil
import socket
import stat
import subprocess
import sys
import tarfile
import tempfile
import time

import pytest

sys.path.insert(0, os.path.join(os.environ.get("R2K_SOURCE_DIR", "."), "tests", "lib"))
from clientrun import R2K, closed_port, peak_rss_kib, run_client  # noqa: E402
from fakerunner import FakeRunner, scripted  # noqa: E402


@pytest.fixture
def tmp():
    d = tempfile.mkdtemp(prefix="r2k-ctx-")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def build(ctx, *extra, actions=(("exit", 0),), **kw):
    """Send ctx to a fake runner; returns (process, connection)."""
    with FakeRunner(scripted(*actions, **kw)) as fr:
        p = run_client(["--runner", fr.address, "--context", ctx] + list(extra))
    return p, fr.conns[0]


def test_awkward_tree(tmp):
    """Long and non-UTF-8 names, empty dirs, links of every kind, exec bits, a FIFO."""
    ctx = os.path.join(tmp, "ctx")
    os.mkdir(ctx)
    long150 = "L" * 150
    deep = os.path.join(ctx, "d" * 60, "e" * 60)
    os.makedirs(deep)
    with open(os.path.join(deep, "f" * 50), "w") as f:
        f.write("deep")
    with open(os.path.join(ctx, long150), "w") as f:
        f.write("long")
    with open(os.fsencode(ctx) + b"/bad-\xff\xfe-name", "wb") as f:
        f.write(b"latin")
    with open(os.path.join(ctx, "caf\u00e9"), "w") as f:
        f.write("utf8")
    os.makedirs(os.path.join(ctx, "empty", "nested-empty"))
    with open(os.path.join(ctx, "run.sh"), "w") as f:
        f.write("#!/bin/sh\n")
    os.chmod(os.path.join(ctx, "run.sh"), 0o755)
    with open(os.path.join(ctx, "plain"), "w") as f:
        f.write("plain")
    os.chmod(os.path.join(ctx, "plain"), 0o640)
    os.symlink("does/not/exist", os.path.join(ctx, "dangling"))
    os.symlink("/etc/passwd", os.path.join(ctx, "absolute"))
    os.symlink("loop", os.path.join(ctx, "loop"))
    os.symlink(".", os.path.join(ctx, "self"))
    os.mkfifo(os.path.join(ctx, "fifo"))
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(os.path.join(ctx, "sock"))

    try:
        p, c = build(ctx)
    finally:
        sock.close()
    assert p.returncode == 0, p.stderr
    assert c.context_ok
    assert c.tar_error is None
    assert b"skipping FIFO 'fifo'" in p.stderr
    assert b"skipping socket 'sock'" in p.stderr
    assert c.member("fifo") is None
    assert c.member("sock") is None
    deep_rel = os.path.relpath(os.path.join(deep, "f" * 50), ctx)
    assert len(deep_rel) > 100
    assert c.member(deep_rel).data == b"deep"
    assert c.member(long150).data == b"long"
    assert c.member(b"bad-\xff\xfe-name").data == b"latin"
    assert c.member("caf\u00e9").data == b"utf8"
    assert c.member("empty").isdir()
    assert c.member("empty/nested-empty").isdir()
    assert c.member("run.sh").mode & 0o777 == 0o755
    assert c.member("plain").mode & 0o777 == 0o640
    for name, target in (("dangling", b"does/not/exist"), ("absolute", b"/etc/passwd"),
                         ("loop", b"loop"), ("self", b".")):
        m = c.member(name)
        assert m.issym(), name
        assert m.linkname == target
    # Nothing reached through a link: the tree has exactly these entries.
    assert len(c.members) == 14, c.members


def test_many_small_files(tmp):
    ctx = os.path.join(tmp, "ctx")
    for i in range(100):
        os.makedirs(os.path.join(ctx, "d%03d" % i))
        for j in range(100):
            with open(os.path.join(ctx, "d%03d" % i, "f%03d" % j), "w") as f:
                f.write("%d/%d\n" % (i, j))
    p, c = build(ctx)
    assert p.returncode == 0, p.stderr
    assert c.context_ok
    files = [m for m in c.members if m.isreg()]
    assert len(files) == 10000
    assert all(m.data == ("%d/%d\n" % (int(m.name[1:4]), int(m.name[-3:]))).encode()
               for m in files)


def test_sparse_file_streams_in_bounded_memory(tmp):
    """A 3 GiB sparse file goes out whole while the client stays small."""
    ctx = os.path.join(tmp, "ctx")
    os.mkdir(ctx)
    size = 3 << 30
    path = os.path.join(ctx, "sparse.img")
    with open(path, "wb") as f:
        f.seek(1 << 30)
        f.write(b"middle")
        f.truncate(size)
    assert os.stat(path).st_blocks * 512 < (1 << 20)  # really sparse
    # A sanitizer build would otherwise keep freed buffers in its quarantine.
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=1"
    with FakeRunner(scripted(("exit", 0))) as fr, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([R2K, "client", "--progress=never", "--runner", fr.address,
                                 "--context", ctx], stdout=subprocess.DEVNULL, stderr=err,
                                env=env)
        peak = 0
        while proc.poll() is None:
            peak = max(peak, peak_rss_kib(proc.pid) or 0)
            time.sleep(0.05)
        err.seek(0)
        stderr = err.read()
    assert proc.returncode == 0, stderr
    c = fr.conns[0]
    assert c.context_ok
    m = c.member("sparse.img")
    assert m.size == size
    h = hashlib.sha256()
    zeros = bytes(1 << 20)
    for _ in range(1024):
        h.update(zeros)
    h.update(b"middle")
    h.update(zeros[:(1 << 20) - 6])
    for _ in range(2047):
        h.update(zeros)
    assert m.sha256 == h.hexdigest()
    assert 0 < peak < 64 * 1024, "the client grew to %d KiB" % peak


def test_unreadable_file_is_a_context_error(tmp):
    if os.geteuid() != 0:
        uid = None
    else:
        uid = 65534
    ctx = os.path.join(tmp, "ctx")
    os.mkdir(ctx)
    os.chmod(ctx, 0o755)
    with open(os.path.join(ctx, "a-ok"), "w") as f:
        f.write("fine")
    secret = os.path.join(ctx, "secret.key")
    with open(secret, "w") as f:
        f.write("s")
    os.chmod(secret, 0)
    if uid is not None:
        probe = subprocess.run(["/bin/sh", "-c", "test -x %s" % R2K],
                               preexec_fn=lambda: os.setuid(uid))
        if probe.returncode != 0:
            pytest.skip("the r2k binary is not reachable by an unprivileged user")

    def drop():
        if uid is not None:
            os.setgid(65534)
            os.setgroups([])
            os.setuid(uid)

    fr = FakeRunner(scripted(("exit", 0))).start()
    try:
        p = run_client(["--runner", fr.address, "--context", ctx], preexec_fn=drop)
    finally:
        fr.stop(check=False)
    assert p.returncode == 65, p.stderr
    assert b"'secret.key'" in p.stderr
    assert b"Permission denied" in p.stderr
    # The runner never saw a complete context.
    assert fr.conns[0].context_end is None


def test_missing_context_directory():
    p = run_client(["--runner", "tcp://127.0.0.1:%d" % closed_port(), "--context",
                    "/nonexistent/r2k-ctx"])
    assert p.returncode == 65
    assert b"/nonexistent/r2k-ctx" in p.stderr


def test_tar_file_as_context_directory_gets_a_hint(tmp):
    path = os.path.join(tmp, "ctx.tar")
    with open(path, "wb") as f:
        f.write(b"\0" * 1024)
    p = run_client(["--runner", "tcp://127.0.0.1:%d" % closed_port(), "--context", path])
    assert p.returncode == 65
    assert ("--context %s: not a directory (a tar file goes on stdin: --context - < %s)"
            % (path, path)).encode() in p.stderr, p.stderr


def make_tar(compress):
    bio = io.BytesIO()
    mode = "w:gz" if compress else "w"
    with tarfile.open(fileobj=bio, mode=mode, format=tarfile.PAX_FORMAT) as tf:
        for i in range(50):
            data = (b"file %d\n" % i) * (i * 997)
            info = tarfile.TarInfo("dir/file%02d" % i)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        info = tarfile.TarInfo("Dockerfile")
        info.size = 13
        tf.addfile(info, io.BytesIO(b"FROM scratch\n"))
    return bio.getvalue()


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("how", ["pipe", "file"])
def test_stdin_relayed_byte_for_byte(tmp, compress, how):
    data = make_tar(compress)
    if compress:
        assert gzip.decompress(data)[:3] != data[:3]
    with FakeRunner(scripted(("exit", 0), keep_raw=True)) as fr:
        args = ["--runner", fr.address, "--context", "-"]
        if how == "pipe":
            p = run_client(args, input=data)
        else:
            path = os.path.join(tmp, "ctx.tar")
            with open(path, "wb") as f:
                f.write(data)
            with open(path, "rb") as f:
                p = run_client(args, stdin=f)
    assert p.returncode == 0, p.stderr
    c = fr.conns[0]
    assert c.context_ok
    assert c.context_end[0] == len(data)
    assert c.context_end[1] == hashlib.sha256(data).digest()
    assert bytes(c.context_raw) == data
    assert c.member("Dockerfile").data == b"FROM scratch\n"
    assert len(c.members) == 51


def test_stdin_large_pipe_is_chunked(tmp):
    """A multi-frame stream from a pipe arrives whole (frames of at most 256 KiB)."""
    data = os.urandom(5 << 20) + b"end"
    with FakeRunner(scripted(("exit", 0), keep_raw=True, inspect=False)) as fr:
        p = run_client(["--runner", fr.address, "--context", "-"], input=data)
    assert p.returncode == 0, p.stderr
    c = fr.conns[0]
    assert c.context_ok
    assert hashlib.sha256(bytes(c.context_raw)).digest() == hashlib.sha256(data).digest()


def test_stdin_terminal_is_refused():
    import pty
    master, slave = pty.openpty()
    try:
        p = run_client(["--runner", "tcp://127.0.0.1:%d" % closed_port(), "--context", "-"],
                       stdin=slave)
    finally:
        os.close(master)
        os.close(slave)
    assert p.returncode == 65
    assert b"terminal" in p.stderr
