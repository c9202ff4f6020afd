#!/usr/bin/env python3
"""Write the seed corpus for fuzz_extract: a good context and hostile ones.

The first byte of each seed also picks the fuzz target's chunk size."""
import io
import os
import sys
import tarfile

R, D, S, H = tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE


def tar(members, gz=False, fmt=tarfile.PAX_FORMAT):
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w:gz" if gz else "w", format=fmt) as t:
        for name, kind, data, link in members:
            ti = tarfile.TarInfo(name)
            ti.type = kind
            ti.mode = 0o755
            ti.mtime = 1700000000
            if link:
                ti.linkname = link
            if data is not None:
                ti.size = len(data)
                t.addfile(ti, io.BytesIO(data))
            else:
                t.addfile(ti)
    return b.getvalue()


def main(out):
    os.makedirs(out, exist_ok=True)
    seeds = {
        "good": tar([("Dockerfile", R, b"FROM scratch\n", None), ("d", D, None, None),
                     ("d/f", R, b"x", None), ("l", S, None, "d/f"), ("h", H, None, "d/f")]),
        "good_gz": tar([("Dockerfile", R, b"FROM scratch\n", None)], gz=True),
        "dotdot": tar([("../outside/x", R, b"x", None)], fmt=tarfile.GNU_FORMAT),
        "symlink_escape": tar([("up", S, None, "../outside"), ("up/x", R, b"x", None)]),
        "hardlink_escape": tar([("h", H, None, "../outside/sentinel")], fmt=tarfile.GNU_FORMAT),
        "replace": tar([("a", R, b"1", None), ("a", S, None, "../outside/sentinel"),
                        ("a", R, b"2", None)]),
    }
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else
         os.path.join(os.path.dirname(__file__), "corpus", "extract"))
