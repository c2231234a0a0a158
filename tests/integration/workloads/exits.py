"""Works in exit_work for 0.4 s, then leaves the way argv[1] says:
normal (0), sys_exit (status 3), exception (uncaught, status 1), os_exit (status 5)."""
import os
import sys
import time

clock = time.perf_counter


def exit_work():
    end = clock() + 0.4
    n = 0
    while clock() < end:
        n += 1
    return n


def leave(how):
    if how == "sys_exit":
        sys.exit(3)
    if how == "exception":
        raise RuntimeError("uncaught on purpose")
    if how == "os_exit":
        os._exit(5)


def main():
    how = sys.argv[1]
    exit_work()
    print("leaving by %s" % how, flush=True)
    leave(how)


main()
