"""NAPPERS threads that nap 5 ms at a time while the main thread waits in hold() for SECONDS
(default 1.0). With `same` (the default) each napper naps in one place, nap(); with `alternate`
it takes turns between nap_a() and nap_b(). Prints how often the agent's threads woke while the
main thread waited (agentwake.py): AGENT-WAKEUPS max=N (K threads). (No thread computes: one
that did would be found waiting for a CPU on a loaded machine, and sampled by the sampler's
own signals, which keep its looks frequent.)"""
import sys
import threading
import time

import agentwake

NAPPERS = 20
NAP = 0.005


def nap():
    time.sleep(NAP)


def nap_a():
    time.sleep(NAP)


def nap_b():
    time.sleep(NAP)


def napper(mode, stop, own):
    own.add(threading.get_native_id())
    turn = 0
    while not stop.is_set():
        if mode == "same":
            nap()
        elif turn % 2 == 0:
            nap_a()
        else:
            nap_b()
        turn += 1


def hold(seconds):
    time.sleep(seconds)


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    mode = sys.argv[2] if len(sys.argv) > 2 else "same"
    stop = threading.Event()
    own = {threading.get_native_id()}
    threads = [threading.Thread(target=napper, args=(mode, stop, own)) for _ in range(NAPPERS)]
    for t in threads:
        t.start()
    hold(0.2)  # every napper registered in `own`, and the agent settled
    counting = agentwake.Counting(own)
    hold(seconds)
    line = counting.stop()
    stop.set()
    for t in threads:
        t.join()
    print(line)


main()
