"""The runner's memory stays bounded while a large context streams in (no spooling)."""
import os
import shutil
import sys
import tempfile
import threading

sys.path.insert(0, os.path.join(os.environ["R2K_SOURCE_DIR"], "tests", "lib"))
import builders  # noqa: E402
import r2kwire as w  # noqa: E402

SIZE = 384 << 20
LIMIT_KB = 96 << 10  # far below SIZE: the context is never held in memory (about 20 MiB seen)


def vm_hwm_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_large_context_bounded_memory():
    tmp = tempfile.mkdtemp(prefix="r2k-test-memory-")
    try:
        executor = builders.script_executor(tmp, "du -sk context/big.bin; exit 0")
        env = {"ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=16"}
        runner = w.Runner("--executor", executor, "--workspace", os.path.join(tmp, "ws"),
                          "--multiple", env=env)
        try:
            block = os.urandom(1 << 20)
            import hashlib
            import struct
            import tarfile
            hdr = tarfile.TarInfo("big.bin")
            hdr.size = SIZE
            head = (w.make_tar([("Dockerfile", b"FROM scratch\n", 0o644)])[:1024]
                    + hdr.tobuf(format=tarfile.GNU_FORMAT))
            sha = hashlib.sha256()
            s = w.connect(runner.addr)
            total = 0

            def send(data):
                nonlocal total
                sha.update(data)
                total += len(data)
                for i in range(0, len(data), 256 << 10):
                    s.sendall(w.frame(w.CONTEXT, data[i:i + (256 << 10)]))

            s.sendall(w.preamble() + w.request())
            res = w.Result()

            def reader():
                w.read_result(s, res)

            t = threading.Thread(target=reader)
            t.start()
            send(head)
            for _ in range(SIZE >> 20):
                send(block)
            send(b"\0" * 1024)
            s.sendall(w.frame(w.CONTEXT_END, struct.pack(">Q", total) + sha.digest()))
            t.join(600)
            s.close()
            assert res.exit == (0, 0, ""), (res.error, runner.log()[-2000:])
            assert int(bytes(res.stdout).split()[0]) >= SIZE >> 10
            hwm = vm_hwm_kb(runner.proc.pid)
            print("runner VmHWM KiB", hwm)
            assert hwm < LIMIT_KB, "runner peak RSS %d KiB for a %d MiB context" % (hwm, SIZE >> 20)
        finally:
            assert runner.stop() == 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_output_flood_while_killing_a_builder_for_a_client_that_does_not_read():
    """A builder that ignores SIGTERM and keeps writing, for a client that sends CANCEL
    but reads nothing: the runner reads the pipes on (so that the kill can finish) but
    drops what does not fit in the connection's queue instead of holding it all."""
    import time
    tmp = tempfile.mkdtemp(prefix="r2k-test-memory-")
    try:
        executor = builders.script_executor(
            tmp, "trap '' TERM; echo flooding; exec yes 'output nobody reads, output nobody reads'")
        env = {"ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=16"}
        runner = w.Runner("--executor", executor, "--workspace", os.path.join(tmp, "ws"),
                          "--kill-timeout", "2", "--preflight", "off", env=env)
        try:
            data = w.make_tar([("Dockerfile", b"FROM scratch\n", 0o644)])
            s = w.connect(runner.addr)
            s.sendall(w.preamble() + w.request() + w.frame(w.CONTEXT, data) + w.context_end(data))
            deadline = time.time() + 60  # bounds, not assertions
            while "kaniko started" not in runner.log() and time.time() < deadline:
                time.sleep(0.05)
            time.sleep(0.5)  # the connection's queue fills up meanwhile
            s.sendall(w.frame(w.CANCEL))
            while "build finished" not in runner.log() and time.time() < deadline:
                time.sleep(0.05)
            assert "build finished" in runner.log(), runner.log()
            peak = vm_hwm_kb(runner.proc.pid)
            res = w.read_result(s)
            s.close()
            assert res.exit == (1, 9, ""), (res.exit, res.error, runner.log())
            assert any("dropped" in text for _, text in res.logs), res.logs
            assert peak < LIMIT_KB, "runner peaked at %d KiB" % peak
        finally:
            runner.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
