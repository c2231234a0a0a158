"""Work that keeps step with the clock: in every 4 ms of CLOCK_MONOTONIC, its first
millisecond is spent in first_quarter and the other three in the_rest, both busy on the CPU.

Usage: ticklocked.py [SECONDS]   (default 2.0). Prints the measured ground truth at the end.
A kernel tick of 250 Hz (or 100 Hz) comes at the same point of every 4 ms, so samples taken at
the tick see only one of the two functions.
"""
import sys
import time

WINDOW_NS = 4000000
FIRST_NS = 1000000
clock = time.monotonic_ns


def first_quarter(until):
    n = 0
    while clock() < until:
        n += 1
    return n


def the_rest(until):
    n = 0
    while clock() < until:
        n += 1
    return n


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0
    spent = {first_quarter: 0, the_rest: 0}
    start = clock()
    end = start + int(seconds * 1e9)
    now = start
    while now < end:
        window = now - now % WINDOW_NS
        fn, until = ((first_quarter, window + FIRST_NS) if now - window < FIRST_NS
                     else (the_rest, window + WINDOW_NS))
        fn(until)
        after = clock()
        spent[fn] += after - now
        now = after
    total = sum(spent.values())
    print("truth first_quarter=%.4f the_rest=%.4f seconds=%.3f" % (
        spent[first_quarter] / total, spent[the_rest] / total, (clock() - start) / 1e9))


main()
