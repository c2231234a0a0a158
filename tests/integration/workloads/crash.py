"""Crashes on purpose (reads address 0 through ctypes); with "fork", the child crashes."""
import ctypes, os, sys, time


def crash():
    # Long enough for the agent to have its signal handlers and fault guard in place.
    end = time.perf_counter() + 0.1
    while time.perf_counter() < end:
        pass
    ctypes.string_at(0)


if len(sys.argv) > 1 and sys.argv[1] == "fork":
    pid = os.fork()
    if pid == 0:
        crash()
    _, st = os.waitpid(pid, 0)
    print("child status", st)
else:
    crash()
