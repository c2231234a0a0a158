#!/usr/bin/env python3
"""Writes a synthetic pyinstr profile with N samples, to time pyinstr-report on a large input.

    python3 bench/genprof.py --samples 10000000 --out big.prof

Shaped like a long real capture: 8 threads (4 busy, 4 mostly idle, whose samples are REPEATs),
600 functions in 60 files, about 20,000 distinct stacks 3 to 40 frames deep (about 12 on
average), a few hot stacks and a long tail, one sample per thread per millisecond, counters
and an END record. The output depends only on N (fixed seed), so runs are comparable.
"""

import argparse
import os
import random
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pyiformat  # noqa: E402

FILES = 60
FUNCS_PER_FILE = 10
UNIQUE_STACKS = 20000
THREADS = 8
BUSY = 4


def make_stacks(rng, n_codes):
    """Distinct stacks, leaf first, grown from a few common roots as real programs are."""
    stacks = []
    seen = set()
    roots = [[(1, 10)], [(1, 10), (2, 20)], [(3, 5)]]
    while len(stacks) < UNIQUE_STACKS:
        base = list(rng.choice(roots))
        depth = min(40, max(3, int(rng.gauss(12, 6))))
        while len(base) < depth:
            code = rng.randrange(4, n_codes + 1)
            base.append((code, code % 97 + rng.randrange(0, 4)))
        key = tuple(base)
        if key in seen:
            continue
        seen.add(key)
        # Stored leaf first, as the format wants.
        stacks.append(b"".join(struct.pack("<Ii", c, line) for c, line in reversed(base)))
    return stacks


def generate(path, samples):
    rng = random.Random(20240601)
    n_codes = FILES * FUNCS_PER_FILE
    stacks = make_stacks(rng, n_codes)
    # Zipf-like popularity: a few hot stacks, a long tail.
    cum, total = [], 0.0
    for rank in range(len(stacks)):
        total += 1.0 / (rank + 1) ** 1.1
        cum.append(total)
    rec = struct.Struct("<HHI")
    fixed = struct.Struct("<IQQQHH")
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        w = pyiformat.Writer(f, pid=4242, start_ns=1700000000 * 10**9)
        w.info("argv", "python3\0synthetic.py")
        w.info("python_version", "3.12.1")
        w.info("interval_ns", "1000000")
        for i in range(n_codes):
            code = i + 1
            w.code(code, code % 97, "module%d.Class%d.method%d" % (i // FUNCS_PER_FILE, i % 3, i),
                   "/srv/app/pkg/module%d.py" % (i // FUNCS_PER_FILE))
        for t in range(1, THREADS + 1):
            w.thread(t, 4242 + t - 1, "MainThread" if t == 1 else "worker-%d" % t)
        written = 0
        batch = 100000
        tick = 0
        repeats = 0
        while written < samples:
            n = min(batch, samples - written)
            picks = rng.choices(range(len(stacks)), cum_weights=cum, k=n)
            out = []
            for k in range(n):
                thread = (written + k) % THREADS + 1
                if thread == 1:
                    tick += 1
                time_ns = tick * 1000000 + thread * 1000
                if thread > BUSY and picks[k] % 8:
                    repeats += 1
                    payload = fixed.pack(thread, time_ns, 1000000, 0, pyiformat.FLAG_REPEAT, 0)
                else:
                    frames = stacks[picks[k]]
                    payload = fixed.pack(thread, time_ns, 1000000, 990000, 0,
                                         len(frames) // 8) + frames
                out.append(rec.pack(pyiformat.REC_SAMPLE, 0, len(payload)))
                out.append(payload)
            f.write(b"".join(out))
            written += n
        w.counters([("samples", samples), ("dropped_ring_full", 0), ("truncated", 0),
                    ("abandoned_fault", 0), ("unknown_frames", 0), ("intern_full", 0),
                    ("signals_sent", samples - repeats), ("repeats", repeats)])
        w.end(tick * 1000000 + 1)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samples", type=int, default=10000000)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    generate(args.out, args.samples)


if __name__ == "__main__":
    main()
