"""The program exec_first.py becomes: works in exec_after for 0.4 s."""
import os
import time

clock = time.perf_counter


def exec_after():
    end = clock() + 0.4
    n = 0
    while clock() < end:
        n += 1
    return n


exec_after()
print("second %d" % os.getpid(), flush=True)
