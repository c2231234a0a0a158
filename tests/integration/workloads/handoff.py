"""Four threads pass a turn around for SECONDS (default 1.0), each computing ~0.3 ms a turn, so
threads keep coming and going off the CPU. At the end it prints how often each thread that is
not the program's own (the agent's) was switched out voluntarily, per second of the run:
AGENT-WAKEUPS max=N (0 threads: none found)."""
import sys
import threading
import time

import agentwake

clock = time.perf_counter
THREADS = 4


def spin(seconds):
    end = clock() + seconds
    while clock() < end:
        pass


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    turn = [0]
    cond = threading.Condition()
    stop = [False]
    own = {threading.get_native_id()}

    def player(me):
        own.add(threading.get_native_id())
        while True:
            with cond:
                while turn[0] != me and not stop[0]:
                    cond.wait()
                if stop[0]:
                    return
            spin(0.0003)
            with cond:
                turn[0] = (me + 1) % THREADS
                cond.notify_all()

    threads = [threading.Thread(target=player, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    time.sleep(0.2)  # every player registered in `own`, and the agent settled
    counting = agentwake.Counting(own)
    time.sleep(seconds)
    line = counting.stop()
    with cond:
        stop[0] = True
        cond.notify_all()
    for t in threads:
        t.join()
    print(line)


main()
