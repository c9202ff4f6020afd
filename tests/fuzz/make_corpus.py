#!/usr/bin/env python3
"""Write the seed corpus for fuzz_frame: valid exchanges and near misses.

The first byte of each seed picks the fuzz target's chunk size."""
import os
import struct
import sys

MAGIC = b"\x89R2K\r\n\x1a\n"


def frame(t, payload=b""):
    return struct.pack(">HHI", t, 0, len(payload)) + payload


def preamble(v=1):
    return MAGIC + struct.pack(">HH", v, 0)


def main(out):
    os.makedirs(out, exist_ok=True)
    client = (preamble()
              + frame(0x0101, b'{"destinations":["localhost:5000/a:b"],"push":true}')
              + frame(0x0102, b"x" * 1000)
              + frame(0x0103, struct.pack(">Q", 1000) + b"\x11" * 32)
              + frame(0x0002))
    runner = (preamble()
              + frame(0x0201, b'{"target":"localhost:5000","kind":"reachability","status":"ok"}')
              + frame(0x0202, b"step 1\n")
              + frame(0x0203, b"warning\n")
              + frame(0x0204, b"\x02hello")
              + frame(0x0205, b"\x00\x00\x00\x00\x00\x00\x00\x03sha256:ab")
              + frame(0x0001, b"\x00\x04bad ../x"))
    seeds = {
        "client": client,
        "runner": runner,
        "cancel": preamble() + frame(0x0101, b"{}") + frame(0x0104),
        "badversion": preamble(7),
        "toobig": preamble() + struct.pack(">HHI", 0x0102, 0, 5000),
        "truncated": client[:-5],
    }
    for i, (name, data) in enumerate(seeds.items()):
        with open(os.path.join(out, name), "wb") as f:
            f.write(bytes([i * 5]) + data)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus", "frame"))
