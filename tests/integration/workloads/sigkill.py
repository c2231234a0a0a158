"""Prints `ready` once it is busy, then spins in sigkill_victim for up to 30 s (the test kills
it long before)."""
import time

clock = time.perf_counter


def sigkill_victim(seconds):
    end = clock() + seconds
    n = 0
    while clock() < end:
        n += 1
    return n


sigkill_victim(0.05)
print("ready", flush=True)
sigkill_victim(30)
