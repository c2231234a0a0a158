"""The main thread computes for SECONDS (default 2.4), stopping to sleep 2.5 ms every 0.8 s:
waits a little longer than the agent's threshold for a stretch off the CPU that no look saw
(2 ms at the default interval), too rare to matter to the profile. Prints how often the agent's threads woke
meanwhile (agentwake.py): AGENT-WAKEUPS max=N (K threads)."""
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


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 2.4
    compute(0.2)  # the agent settled
    counting = agentwake.Counting({threading.get_native_id()})
    end = clock() + seconds
    while clock() < end:
        compute(min(EVERY, end - clock()))
        wait()
    print(counting.stop())


main()
