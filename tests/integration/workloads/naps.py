"""Computes for about 2 ms, sleeps 4 ms, again and again: a third of the wall time computing.

Usage: naps.py [SECONDS]   (default 2.0). Prints "truth compute=S nap=S total=S
cpu_compute=S cpu_nap=S cpu_total=S" at the end: wall seconds (perf_counter) and this thread's
CPU seconds (thread_time) around each part. The naps are a little longer than a kernel
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
    busy = idle = busy_cpu = idle_cpu = 0.0
    cpu = time.thread_time
    start, start_cpu = clock(), cpu()
    while clock() - start < total:
        t0, c0 = clock(), cpu()
        compute()
        t1, c1 = clock(), cpu()
        nap()
        t2, c2 = clock(), cpu()
        busy += t1 - t0
        idle += t2 - t1
        busy_cpu += c1 - c0
        idle_cpu += c2 - c1
    print("truth compute=%.6f nap=%.6f total=%.6f cpu_compute=%.6f cpu_nap=%.6f cpu_total=%.6f"
          % (busy, idle, clock() - start, busy_cpu, idle_cpu, cpu() - start_cpu))


main()
