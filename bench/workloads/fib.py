"""Many tiny calls: recursive fib beside a call-free loop of about the same cost."""
from benchlib import main, spin, timed


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def loop(n):
    return spin(n)


def work(units):
    for _ in range(units):
        timed("fib", fib, 21)
        timed("loop", loop, 22000)


if __name__ == "__main__":
    main(work)
