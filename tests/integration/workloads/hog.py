"""Another process's work on one CPU, as a busy host has: computes BUSY_MS, then sleeps EVERY_MS,
on CPU only, for SECONDS. Usage: hog.py CPU SECONDS [BUSY_MS [EVERY_MS]] (6 and 300)."""
import os
import sys
import time


def main():
    cpu, seconds = int(sys.argv[1]), float(sys.argv[2])
    busy = float(sys.argv[3]) / 1000 if len(sys.argv) > 3 else 0.006
    every = float(sys.argv[4]) / 1000 if len(sys.argv) > 4 else 0.3
    os.sched_setaffinity(0, {cpu})
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        until = time.perf_counter() + busy
        while time.perf_counter() < until:
            pass
        time.sleep(every)


main()
