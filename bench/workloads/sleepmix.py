"""Half sleeping, half computing: wall time splits about 50/50, CPU time goes to computing."""
import time

from benchlib import main, spin, timed


def compute(n):
    return spin(n)


def nap(seconds):
    time.sleep(seconds)


def work(units):
    for _ in range(units):
        timed("compute", compute, 20000)
        timed("nap", nap, 0.004)


if __name__ == "__main__":
    main(work)
