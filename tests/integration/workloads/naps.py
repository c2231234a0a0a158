"""Computes for about 2 ms, sleeps 4 ms, again and again: a third of the wall time computing.

Usage: naps.py [SECONDS]   (default 2.0). Prints "truth compute=S nap=S total=S" at the end
(wall seconds, perf_counter around each part). The naps are a little longer than a kernel
tick at 250 Hz and much shorter than the agent's slowest look at its threads (20 ms), which
is what used to let some of them go unseen.
"""
import sys
import time

clock = time.perf_counter


def compute():
    end = clock() + 0.002
    n = 0
    while clock() < end:
        n += 1
    return n


def nap():
    time.sleep(0.004)


def main():
    total = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0
    busy = idle = 0.0
    start = clock()
    while clock() - start < total:
        t0 = clock()
        compute()
        t1 = clock()
        nap()
        t2 = clock()
        busy += t1 - t0
        idle += t2 - t1
    print("truth compute=%.6f nap=%.6f total=%.6f" % (busy, idle, clock() - start))


main()
