"""Starts argv[1] threads one after another; each computes in burn() for argv[2] ms of its own
CPU time from its first line, then ends. Prints the sum of their own measures (ms): the CPU
time and the wall time each spent in burn()."""
import sys
import threading
import time


def burn(ms, out):
    wall0, cpu0 = time.perf_counter(), time.thread_time()
    end = cpu0 + ms / 1e3
    while time.thread_time() < end:
        # Mostly Python: the clock is read by a system call, where a sample's signal would
        # land more often than in the program's own work.
        for _ in range(200):
            pass
    out.append(((time.perf_counter() - wall0) * 1e3, (time.thread_time() - cpu0) * 1e3))


def main():
    count, ms = int(sys.argv[1]), float(sys.argv[2])
    out = []
    for _ in range(count):
        t = threading.Thread(target=burn, args=(ms, out))
        t.start()
        t.join()
    print("TRUTH threads=%d wall=%.3f cpu=%.3f" % (len(out), sum(w for w, _ in out),
                                                  sum(c for _, c in out)))


main()
