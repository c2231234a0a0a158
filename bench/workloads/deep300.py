"""300-frame stacks: most of the time is spent 300 frames deep, the rest near the top."""
from benchlib import main, spin, timed

DEPTH = 300


def descend(n, fn, *args):
    if n <= 1:
        return fn(*args)
    return descend(n - 1, fn, *args)


def deep_work(n):
    return spin(n)


def shallow_work(n):
    return spin(n)


def work(units):
    for _ in range(units):
        descend(DEPTH, timed, "deep_work", deep_work, 30000)
        timed("shallow_work", shallow_work, 10000)


if __name__ == "__main__":
    main(work)
