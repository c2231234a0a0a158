"""benchlib: how every bench workload measures and prints its own ground truth.

A workload calls main(work), where work(units) does a fixed amount of work, `units` given on the
command line. Inside it, every block of interest runs through timed(name, fn, *args), which adds
the block's wall time (perf_counter) and CPU time (thread_time, this thread only) to `name`.
Blocks are large (milliseconds), so the timing itself is noise. Each thread adds its blocks
to sums of its own and main() adds those up at the end: with one lock around shared sums, the
threads queued behind it whenever its holder lost the GIL inside (a convoy), and recording
took most of their wall time (docs/PERFORMANCE.md, eighth run). Threads wrap their whole body
in region(); the main thread's work runs inside region() too, unless it only waits for
threads (main(work, wrap=False)). A profiler's share for a
function is then comparable with truth[name] / truth["region"], both counting only time spent
inside region(), which leaves out interpreter start-up and shutdown.

At the end main() prints one line: BENCH-TRUTH {json}. Runs on CPython 3.8 and later.
"""

import json
import sys
import threading
import time

_lock = threading.Lock()  # guards _sums_of_threads only
_sums_of_threads = []      # each thread's (wall, cpu) dicts
_mine = threading.local()
extra = {}


def _sums():
    sums = getattr(_mine, "sums", None)
    if sums is None:
        sums = _mine.sums = ({}, {})
        with _lock:
            _sums_of_threads.append(sums)
    return sums


def _add(name, wall, cpu):
    wall_sums, cpu_sums = _sums()
    wall_sums[name] = wall_sums.get(name, 0.0) + wall
    cpu_sums[name] = cpu_sums.get(name, 0.0) + cpu


def _total(which):
    total = {}
    with _lock:
        for sums in _sums_of_threads:
            for name, value in list(sums[which].items()):
                total[name] = total.get(name, 0.0) + value
    return total


def timed(name, fn, *args):
    w0 = time.perf_counter()
    c0 = time.thread_time()
    try:
        return fn(*args)
    finally:
        _add(name, time.perf_counter() - w0, time.thread_time() - c0)


def region(fn, *args):
    return timed("region", fn, *args)


def spin(n):
    """Plain CPU work: a loop of arithmetic with no calls."""
    s = 0
    for i in range(n):
        s += i * i % 7
    return s


def main(work, wrap=True):
    """Runs work(units). wrap=False: the workload puts its own threads in region()."""
    units = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    if wrap:
        region(work, units)
    else:
        work(units)
    truth = {"units": units, "wall": _total(0), "cpu": _total(1), "extra": extra}
    sys.stdout.write("BENCH-TRUTH " + json.dumps(truth, sort_keys=True) + "\n")
    sys.stdout.flush()
