"""The main thread computes for SECONDS (default 2.4), stopping to sleep 2.5 ms every 0.8 s:
waits a little longer than the agent's threshold for a stretch off the CPU that no look saw
(2 ms at the default interval), too rare to matter to the profile. Prints how often the agent's
threads woke meanwhile (agentwake.py): AGENT-WAKEUPS max=N (K threads).

With a second argument CPU, the main thread keeps to that CPU and the agent's threads to the
others: beside another process's work on that CPU (hog.py), the main thread is then also off the
CPU, preempted, in stretches no look sees. With `CPU all`, every thread keeps to that CPU, as on
a machine of one CPU: the agent's threads then take it from the main thread whenever they run."""
import os
import sys
import threading
import time

import agentwake

clock = time.perf_counter
EVERY = 0.8
WAIT = 0.0025


def compute(seconds):
    end = clock() + seconds
    n = 0
    while clock() < end:
        n += 1
    return n


def wait():
    time.sleep(WAIT)


def keep_to(cpu, everyone):
    """Pins the main thread to cpu and the process's other threads (the agent's) to the rest,
    or to cpu too if everyone."""
    others = {cpu} if everyone else os.sched_getaffinity(0) - {cpu}
    os.sched_setaffinity(0, {cpu})
    main_tid = threading.get_native_id()
    for tid in os.listdir("/proc/self/task"):
        if int(tid) != main_tid:
            os.sched_setaffinity(int(tid), others)


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 2.4
    if len(sys.argv) > 2:
        keep_to(int(sys.argv[2]), sys.argv[3:4] == ["all"])
    compute(0.2)  # the agent settled
    counting = agentwake.Counting({threading.get_native_id()})
    end = clock() + seconds
    while clock() < end:
        compute(min(EVERY, end - clock()))
        wait()
    print(counting.stop())


main()
