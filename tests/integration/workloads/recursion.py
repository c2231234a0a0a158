"""Recurses DEPTH frames deep (default 3000) through descend(), then spins at the bottom.

Stack at the bottom, root first: <module>, main, descend x (DEPTH + 1), bottom_spin.
"""
import sys
import time

clock = time.perf_counter


def bottom_spin(seconds):
    end = clock() + seconds
    n = 0
    while clock() < end:
        n += 1
    return n


def descend(n, seconds):
    if n == 0:
        return bottom_spin(seconds)
    return descend(n - 1, seconds)


def main():
    depth = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 1.0
    sys.setrecursionlimit(depth + 1000)
    descend(depth, seconds)
    print("recursed %d deep" % depth)


main()
