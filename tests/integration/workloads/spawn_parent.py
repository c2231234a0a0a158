"""Runs a Python child with subprocess (fork+exec, or vfork/posix_spawn where CPython uses
them) while the parent works in spawn_parent_work; the child works in spawn_child_work."""
import subprocess
import sys
import time

clock = time.perf_counter

CHILD = """
import time
def spawn_child_work():
    end = time.perf_counter() + 0.4
    while time.perf_counter() < end:
        pass
spawn_child_work()
print("child ok", flush=True)
"""


def spawn_parent_work():
    end = clock() + 0.4
    n = 0
    while clock() < end:
        n += 1
    return n


child = subprocess.Popen([sys.executable, "-c", CHILD])
spawn_parent_work()
print("child status %d" % child.wait(), flush=True)
