"""Two functions sharing the time 70/30."""
from benchlib import main, spin, timed


def seventy(n):
    return spin(n)


def thirty(n):
    return spin(n)


def work(units):
    for _ in range(units):
        timed("seventy", seventy, 28000)
        timed("thirty", thirty, 12000)


if __name__ == "__main__":
    main(work)
