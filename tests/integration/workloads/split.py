"""Spends 70% of its time in hot_seventy and 30% in cold_thirty, both busy on the CPU.

Usage: split.py [SECONDS]   (default 2.0). Prints the measured ground truth at the end.
Slices are 2.3 ms, off round numbers, so that a sampler with a round period cannot alias
with them.
"""
import sys
import time

clock = time.perf_counter


def hot_seventy(seconds):
    end = clock() + seconds
    n = 0
    while clock() < end:
        n += 1
    return n


def cold_thirty(seconds):
    end = clock() + seconds
    n = 0
    while clock() < end:
        n += 1
    return n


def main():
    total = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0
    hot = cold = 0.0
    start = clock()
    # Short slices, each given to whichever function is behind its share. On a busy machine a
    # slice can overrun by the time the process waits for a CPU; choosing by the measured
    # totals makes up for it, and the run goes on (up to a second) until the split is back
    # within 0.2 points, so it holds whatever the load.
    while clock() - start < total or (abs(hot / (hot + cold) - 0.7) > 0.002 and
                                      clock() - start < total + 1.0):
        if hot <= 0.7 * (hot + cold):
            t0 = clock()
            hot_seventy(0.0023)
            hot += clock() - t0
        else:
            t0 = clock()
            cold_thirty(0.0023)
            cold += clock() - t0
    print("truth hot_seventy=%.4f cold_thirty=%.4f seconds=%.3f" % (
        hot / (hot + cold), cold / (hot + cold), clock() - start))


main()
