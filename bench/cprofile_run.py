"""Runs a bench workload under cProfile: python cprofile_run.py OUT.json SCRIPT [ARGS...]

Writes {function name: cumulative seconds} to OUT.json. cProfile's cumulative time counts a
recursive function once (its outermost calls), so it compares directly with the bench's
inclusive shares. cProfile sees only the thread that enabled it (the main thread).
Works on any CPython 3.8+, whose pstats formats differ, hence JSON out.
"""
import cProfile
import json
import os
import runpy
import sys


def run():
    out, script = sys.argv[1], sys.argv[2]
    sys.argv = sys.argv[2:]
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    prof = cProfile.Profile()
    prof.enable()
    try:
        runpy.run_path(script, run_name="__main__")
    finally:
        prof.disable()
        prof.create_stats()
        cum = {}
        for (_file, _line, name), (_cc, _nc, _tt, ct, _callers) in prof.stats.items():
            cum[name] = cum.get(name, 0.0) + ct
        with open(out, "w") as f:
            json.dump(cum, f)


if __name__ == "__main__":
    run()
