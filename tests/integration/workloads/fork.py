"""Works in parent_before_fork, forks; the child works in child_work and leaves with sys.exit,
the parent works in parent_after_fork, then waits for the child.

Prints `parent PID` and `child PID` lines (the child's from the child itself).
"""
import os
import sys
import time

clock = time.perf_counter


def spin(seconds):
    end = clock() + seconds
    n = 0
    while clock() < end:
        n += 1
    return n


def parent_before_fork():
    spin(0.3)


def child_work():
    spin(0.5)


def parent_after_fork():
    spin(0.5)


def main():
    print("parent %d" % os.getpid(), flush=True)
    parent_before_fork()
    pid = os.fork()
    if pid == 0:
        print("child %d" % os.getpid(), flush=True)
        child_work()
        sys.exit(0)
    parent_after_fork()
    _, status = os.waitpid(pid, 0)
    print("child status %d" % status, flush=True)


main()
