"""Four threads, each busy in its own function for SECONDS (default 1.2); main joins them."""
import sys
import threading
import time

clock = time.perf_counter


def spin(seconds):
    end = clock() + seconds
    n = 0
    while clock() < end:
        n += 1
    return n


def worker_alpha(seconds):
    spin(seconds)


def worker_beta(seconds):
    spin(seconds)


def worker_gamma(seconds):
    spin(seconds)


def worker_delta(seconds):
    spin(seconds)


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 1.2
    threads = [threading.Thread(target=f, args=(seconds,), name=f.__name__)
               for f in (worker_alpha, worker_beta, worker_gamma, worker_delta)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("threads done: %d" % len(threads))


main()
