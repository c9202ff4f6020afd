"""Hostile and over-limit contexts are refused with ERROR 4 naming the entry; nothing escapes."""
import io
import os
import shutil
import sys
import tarfile
import tempfile

import pytest

sys.path.insert(0, os.path.join(os.environ["R2K_SOURCE_DIR"], "tests", "lib"))
import builders  # noqa: E402
import r2kwire as w  # noqa: E402


@pytest.fixture(scope="module")
def env():
    d = tempfile.mkdtemp(prefix="r2k-test-context-")
    outside = os.path.join(d, "outside")
    os.mkdir(outside)
    with open(os.path.join(outside, "secret"), "w") as f:
        f.write("secret\n")
    executor, record = builders.recording_executor(d)
    ws = os.path.join(d, "ws")
    runner = w.Runner("--executor", executor, "--workspace", ws, "--multiple",
                      "--max-context-entries", "50", "--max-context-bytes", "1M")
    yield {"dir": d, "outside": outside, "ws": ws, "runner": runner, "record": record}
    runner.stop()
    shutil.rmtree(d, ignore_errors=True)


def tar_of(*members):
    """members: (TarInfo, data-or-None)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as t:
        for ti, data in members:
            if data is not None:
                ti.size = len(data)
                t.addfile(ti, io.BytesIO(data))
            else:
                t.addfile(ti)
    return buf.getvalue()


def info(name, kind=tarfile.REGTYPE, **kw):
    ti = tarfile.TarInfo(name)
    ti.type = kind
    ti.mode = kw.pop("mode", 0o644)
    for k, v in kw.items():
        setattr(ti, k, v)
    return ti


DOCKERFILE = (info("Dockerfile"), b"FROM scratch\n")


def refused(env, data, entry, reason):
    if os.path.exists(env["record"]):
        os.unlink(env["record"])
    res = w.build(env["runner"].addr, {}, data)
    assert res.exit is None, res.exit
    assert res.error is not None, res
    code, msg = res.error
    assert code == 4, res.error
    if entry is not None:
        assert "context entry '%s'" % entry in msg, msg
    assert reason in msg, msg
    # The builder never ran; nothing left in the workspace parent; nothing outside touched.
    assert not os.path.exists(env["record"])
    assert os.listdir(env["ws"]) == []
    assert sorted(os.listdir(env["outside"])) == ["secret"]
    assert open(os.path.join(env["outside"], "secret")).read() == "secret\n"
    return msg


def test_dotdot(env):
    refused(env, tar_of(DOCKERFILE, (info("../x"), b"x")), "../x", "name leaves the workspace")
    refused(env, tar_of(DOCKERFILE, (info("a/../../x"), b"x")), "a/../../x",
            "name leaves the workspace")


def test_absolute(env):
    name = env["outside"] + "/new"
    refused(env, tar_of(DOCKERFILE, (info(name), b"x")), name, "absolute name")


def test_symlink_then_file_through_it(env):
    data = tar_of(DOCKERFILE, (info("link", tarfile.SYMTYPE, linkname=env["outside"]), None),
                  (info("link/pwned"), b"owned"))
    refused(env, data, "link/pwned", "path goes through the symlink 'link'")
    data = tar_of(DOCKERFILE, (info("d", tarfile.DIRTYPE, mode=0o755), None),
                  (info("d/up", tarfile.SYMTYPE, linkname="../../../.."), None),
                  (info("d/up/x/y"), b"owned"))
    refused(env, data, "d/up/x/y", "symlink 'd/up'")


def test_hard_links(env):
    secret = os.path.join(env["outside"], "secret")
    refused(env, tar_of(DOCKERFILE, (info("h", tarfile.LNKTYPE, linkname=secret), None)), "h",
            "absolute name")
    refused(env, tar_of(DOCKERFILE, (info("h", tarfile.LNKTYPE, linkname="../../outside/secret"), None)),
            "h", "leaves the workspace")
    refused(env, tar_of(DOCKERFILE, (info("h", tarfile.LNKTYPE, linkname="missing"), None)), "h",
            "not an earlier regular file")
    data = tar_of(DOCKERFILE, (info("s", tarfile.SYMTYPE, linkname=secret), None),
                  (info("h", tarfile.LNKTYPE, linkname="s"), None))
    refused(env, data, "h", "not an earlier regular file")


def test_special_files(env):
    refused(env, tar_of(DOCKERFILE, (info("null", tarfile.CHRTYPE, devmajor=1, devminor=3), None)),
            "null", "device nodes are not allowed")
    refused(env, tar_of(DOCKERFILE, (info("sda", tarfile.BLKTYPE, devmajor=8, devminor=0), None)),
            "sda", "device nodes are not allowed")
    refused(env, tar_of(DOCKERFILE, (info("fifo", tarfile.FIFOTYPE), None)), "fifo",
            "FIFOs are not allowed")


def test_limits(env):
    many = [DOCKERFILE] + [(info("f%d" % i), b"") for i in range(60)]
    refused(env, tar_of(*many), "f49", "more than 50 entries")
    refused(env, tar_of(DOCKERFILE, (info("big"), b"x" * (2 << 20))), "big",
            "larger than 1048576 bytes")


def test_checksum_and_size(env):
    data = w.make_tar([("Dockerfile", b"FROM scratch\n", 0o644)])
    for end in (w.frame(w.CONTEXT_END, (len(data)).to_bytes(8, "big") + b"\0" * 32),
                w.frame(w.CONTEXT_END, (len(data) + 1).to_bytes(8, "big") + b"\0" * 32)):
        s = w.connect(env["runner"].addr)
        s.sendall(w.preamble() + w.request() + w.frame(w.CONTEXT, data) + end)
        res = w.read_result(s)
        s.close()
        assert res.error and res.error[0] == 4, res.error
        assert "mismatch" in res.error[1]
    assert os.listdir(env["ws"]) == []


def test_not_a_tar(env):
    refused(env, b"this is not a tar stream" * 100, None, "tar")


def test_good_context_kept_safe(env):
    """Modes (exec bits) kept, setuid dropped, symlinks stored as they are, hard links work."""
    data = tar_of(DOCKERFILE,
                  (info("bin/tool", mode=0o4755), b"#!/bin/sh\n"),
                  (info("abs", tarfile.SYMTYPE, linkname="/etc/passwd"), None),
                  (info("loop", tarfile.SYMTYPE, linkname="loop"), None),
                  (info("hard", tarfile.LNKTYPE, linkname="bin/tool"), None),
                  (info("./dot/./x"), b"x"))
    res = w.build(env["runner"].addr, {}, data)
    assert res.exit and res.exit[:2] == (0, 0), res.error
    rec = builders.load_record(env["record"])
    assert rec["files"]["bin/tool"].startswith("755:")
    assert rec["files"]["hard"] == rec["files"]["bin/tool"]
    assert rec["files"]["abs"] == "link:/etc/passwd"
    assert rec["files"]["loop"] == "link:loop"
    assert rec["files"]["dot/x"].startswith("644:")
    assert os.listdir(env["ws"]) == []


def test_sparse_file_keeps_its_holes(env):
    """A GNU sparse entry: 1 GiB apparent size, a few KiB of data; holes stay holes and
    only data counts against --max-context-bytes."""
    import subprocess
    src = os.path.join(env["dir"], "sparse-src")
    os.mkdir(src)
    with open(os.path.join(src, "Dockerfile"), "w") as f:
        f.write("FROM scratch\n")
    with open(os.path.join(src, "sparse"), "wb") as f:
        f.seek(512 << 20)
        f.write(b"middle" * 1000)
        f.truncate(1 << 30)
    data = subprocess.run(["tar", "--sparse", "--format=pax", "-cf", "-", "-C", src, "."],
                          check=True, capture_output=True).stdout
    shutil.rmtree(src)
    assert len(data) < (1 << 20)
    executor = builders.script_executor(env["dir"], "stat -c '%s %b %B' context/sparse; "
                                        "dd if=context/sparse bs=1M skip=512 count=1 2>/dev/null | head -c 12",
                                        name="sparse-executor")
    runner = w.Runner("--executor", executor, "--workspace", env["ws"], "--max-context-bytes", "1M")
    try:
        res = w.build(runner.addr, {}, data)
        assert res.exit == (0, 0, ""), (res.error, runner.log()[-2000:])
        first, head = bytes(res.stdout).split(b"\n", 1)
        size, blocks, bsize = first.split()
        assert int(size) == 1 << 30
        assert int(blocks) * int(bsize) < (16 << 20)
        assert head == b"middlemiddle"
        assert runner.wait() == 0
    finally:
        runner.stop()


def test_refused_while_client_still_sends(env):
    """The ERROR reaches a client that is still uploading a large context (no reset)."""
    import threading
    head = tar_of((info("../x"), b"x"))[:-1024]  # no end-of-archive blocks
    s = w.connect(env["runner"].addr)
    s.sendall(w.preamble() + w.request())
    sent = {"error": None}

    def upload():
        try:
            s.sendall(w.frame(w.CONTEXT, head))
            block = w.frame(w.CONTEXT, b"\0" * (1 << 20))
            for _ in range(300):
                s.sendall(block)
        except OSError as e:
            sent["error"] = e

    t = threading.Thread(target=upload)
    t.start()
    res = w.read_result(s)
    t.join(120)
    s.close()
    assert res.error is not None and res.error[0] == 4, (res.closed, sent)
    assert "name leaves the workspace" in res.error[1]
    assert os.listdir(env["ws"]) == []


def test_refused_then_client_finishes_sending(env):
    """A client that writes its whole upload before reading still gets the ERROR: after
    the last frame the runner drains and discards input until the client closes."""
    head = tar_of((info("../x"), b"x"))[:-1024]
    s = w.connect(env["runner"].addr, timeout=120)
    s.sendall(w.preamble() + w.request() + w.frame(w.CONTEXT, head))
    block = w.frame(w.CONTEXT, b"\0" * (1 << 20))
    for _ in range(64):
        s.sendall(block)
    res = w.read_result(s)
    s.close()
    assert res.error is not None and res.error[0] == 4, res.closed
    assert "'../x': name leaves the workspace" in res.error[1]


@pytest.mark.parametrize("name,members,entry,reason", [
    ("dotdot", [(info("../x"), b"x")], "../x", "name leaves the workspace"),
    ("absolute", [(info("/tmp/r2k-absolute-entry"), b"x")], "/tmp/r2k-absolute-entry",
     "absolute name"),
    ("through a symlink", [(info("out", tarfile.SYMTYPE, linkname="OUTSIDE"), None),
                           (info("out/pwned"), b"x")], "out/pwned", "through the symlink"),
    ("hard link outside", [(info("h", tarfile.LNKTYPE, linkname="OUTSIDE/secret"), None)], "h",
     "absolute name"),
    ("device node", [(info("null", tarfile.CHRTYPE, devmajor=1, devminor=3), None)], "null",
     "device nodes are not allowed"),
])
def test_hostile_tars_through_the_client(env, name, members, entry, reason):
    """The same refusals end to end: a hostile tar piped into r2k client --context -."""
    import subprocess
    fixed = []
    for ti, data in members:
        ti.linkname = ti.linkname.replace("OUTSIDE", env["outside"])
        fixed.append((ti, data))
    data = tar_of(DOCKERFILE, *fixed)
    if os.path.exists(env["record"]):
        os.unlink(env["record"])
    p = subprocess.run([os.environ["R2K_BIN"], "client", "--runner", env["runner"].addr,
                        "--context", "-", "--progress=never"], input=data, capture_output=True,
                       timeout=120)
    assert p.returncode == 65, p.stderr
    assert ("r2k: runner error 4 (CONTEXT): context entry '%s'" % entry).encode() in p.stderr
    assert reason.encode() in p.stderr, p.stderr
    assert not os.path.exists(env["record"])
    assert os.listdir(env["ws"]) == []
    assert sorted(os.listdir(env["outside"])) == ["secret"]
    assert not os.path.exists("/tmp/r2k-absolute-entry")
