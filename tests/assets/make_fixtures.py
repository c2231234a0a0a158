#!/usr/bin/env python3
"""Writes the profile fixtures of tests/assets/ (docs/FORMAT.md, version 1).

Run from anywhere: python3 tests/assets/make_fixtures.py. The output is deterministic; the
files are committed so tests do not depend on this script, which documents how each was made.
golden.bin and hostile.bin come from tests/tools/mkprofile instead.
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def header(major=1, minor=0, size=32, pid=100, start=1_700_000_000_000_000_000):
    return b"PYINSTR\x1a" + struct.pack("<HHIIIQ", major, minor, size, pid, 0, start)


def record(rtype, payload):
    return struct.pack("<HHI", rtype, 0, len(payload)) + payload


def code(cid, line, qual, fname):
    return record(2, struct.pack("<Ii", cid, line) + struct.pack("<H", len(qual)) + qual
                  + struct.pack("<H", len(fname)) + fname)


def thread(tid, native, name=b""):
    return record(3, struct.pack("<IQH", tid, native, len(name)) + name)


def sample(tid, t, frames, flags=0, depth=None, wall=1_000_000, cpu=1_000_000):
    depth = len(frames) if depth is None else depth
    body = struct.pack("<IQQQHH", tid, t, wall, cpu, flags, depth)
    for cid, line in frames:
        body += struct.pack("<Ii", cid, line)
    return record(4, body)


def end(t=5_000_000, reason=0):
    return record(6, struct.pack("<QI", t, reason))


GOOD = (header() + thread(1, 100, b"MainThread") + code(1, 1, b"main", b"app.py")
        + code(2, 10, b"work", b"app.py") + sample(1, 1000, [(2, 11), (1, 3)]))

FIXTURES = {
    # Not a profile at all.
    "bad-magic.bin": b"#!/bin/sh\necho this is not a profile, just a text file\n",
    # A header from a future, incompatible format.
    "future-major.bin": header(major=2) + thread(1, 100),
    # A SAMPLE record claiming a 1 MiB + 1 byte payload (at byte 32).
    "record-over-1mib.bin": header() + struct.pack("<HHI", 4, 0, (1 << 20) + 1) + b"\0" * 64,
    # A sample of thread 5, which no THREAD record defined (sample at byte 84).
    "sample-unknown-thread.bin": header() + thread(1, 100) + code(1, 1, b"main", b"app.py")
    + sample(5, 1000, [(1, 2)]),
    # A sample using code id 9, which no CODE record defined (sample at byte 84).
    "sample-unknown-code.bin": header() + thread(1, 100) + code(1, 1, b"main", b"app.py")
    + sample(1, 1000, [(1, 2), (9, 4)]),
    # A sample whose depth says 3 frames but whose length holds 2 (sample at byte 180).
    "sample-depth-mismatch.bin": GOOD[:32] + GOOD[32:] + sample(1, 2000, [(1, 2), (2, 3)], depth=3),
    # CODE record whose two string lengths do not add up to its length (at byte 32).
    "code-lengths-mismatch.bin": header() + record(2, struct.pack("<IiH", 1, 1, 50) + b"main"
                                                   + struct.pack("<H", 6) + b"app.py"),
    # The same code id defined twice (second definition at byte 62).
    "code-defined-twice.bin": header() + code(1, 1, b"main", b"app.py") + code(1, 1, b"main", b"app.py"),
    # A valid file with a record of an unknown type (77) in the middle: it is skipped.
    "unknown-record.bin": GOOD + record(77, b"from a newer minor version") + sample(1, 2000, [(1, 4)])
    + end(),
    # A valid file cut in the middle of its last sample, as a killed process leaves it.
    "truncated-tail.bin": (GOOD + sample(1, 2000, [(2, 12), (1, 3)]))[:-5],
}

if __name__ == "__main__":
    for name, data in FIXTURES.items():
        with open(os.path.join(HERE, name), "wb") as f:
            f.write(data)
        print(f"{name}: {len(data)} bytes")
