"""Works in exec_before for 0.4 s, then replaces itself with argv[1:] (default: this Python
running exec_second.py)."""
import os
import sys
import time

clock = time.perf_counter


def exec_before():
    end = clock() + 0.4
    n = 0
    while clock() < end:
        n += 1
    return n


exec_before()
argv = sys.argv[1:] or [sys.executable, os.path.join(os.path.dirname(__file__), "exec_second.py")]
print("exec %s" % argv[0], flush=True)
os.execv(argv[0], argv)
