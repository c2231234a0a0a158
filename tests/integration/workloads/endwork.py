"""Loops for argv[1] seconds in one function, then prints the loop's own wall and CPU time
(ms) and returns, so that the interpreter finalizes right after the work."""
import sys
import time


def last_work(seconds):
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


wall0, cpu0 = time.perf_counter(), time.thread_time()
last_work(float(sys.argv[1]))
print("TRUTH wall=%.3f cpu=%.3f" % ((time.perf_counter() - wall0) * 1e3,
                                    (time.thread_time() - cpu0) * 1e3))
