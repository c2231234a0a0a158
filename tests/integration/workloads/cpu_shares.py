"""Four threads do 1, 2, 3 and 4 units of CPU work (busy loops) side by side, each in its own
function, while the main thread waits. Prints each worker's CPU time (time.thread_time) as
the ground truth: `truth NAME SECONDS`.

Usage: cpu_shares.py [UNIT_SECONDS] (default 0.15)
"""
import sys
import threading
import time

UNIT = float(sys.argv[1]) if len(sys.argv) > 1 else 0.15
used = {}


def burn(name, seconds):
    start = time.thread_time()
    n = 0
    while time.thread_time() - start < seconds:
        for _ in range(2000):
            n += 1
    used[name] = time.thread_time() - start


def work_one():
    burn("work_one", 1 * UNIT)


def work_two():
    burn("work_two", 2 * UNIT)


def work_three():
    burn("work_three", 3 * UNIT)


def work_four():
    burn("work_four", 4 * UNIT)


threads = [threading.Thread(target=f) for f in (work_one, work_two, work_three, work_four)]
for t in threads:
    t.start()
for t in threads:
    t.join()
for name in sorted(used):
    print("truth %s %.6f" % (name, used[name]))
