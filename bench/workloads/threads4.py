"""Four threads, each splitting its work 1:3 between two functions (they share the GIL)."""
import threading

from benchlib import main, region, spin, timed

THREADS = 4


def work_a(n):
    return spin(n)


def work_b(n):
    return spin(n)


def thread_body(units):
    for _ in range(units):
        timed("work_a", work_a, 5000)
        timed("work_b", work_b, 15000)


def work(units):
    per_thread = max(1, units // THREADS)
    threads = [threading.Thread(target=region, args=(thread_body, per_thread))
               for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


if __name__ == "__main__":
    # The threads do the work, each inside its own region; the main thread only waits.
    main(work, wrap=False)
