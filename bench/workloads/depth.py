"""Per-sample cost: CPU work at the bottom of a stack DEPTH frames deep (argv[2])."""
import sys

from benchlib import main, spin, timed

DEPTH = int(sys.argv[2]) if len(sys.argv) > 2 else 100
sys.setrecursionlimit(DEPTH + 1000)


def descend(n, fn, *args):
    if n <= 1:
        return fn(*args)
    return descend(n - 1, fn, *args)


def leaf(units):
    for _ in range(units):
        timed("leaf", spin, 20000)


def work(units):
    descend(DEPTH, leaf, units)


if __name__ == "__main__":
    main(work)
