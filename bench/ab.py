"""Two or more agent builds side by side: a workload run bare and under each build in turn,
the order rotating from round to round, and each profiled run divided by the bare run of its
own round (wall time around the child, CPU time of the whole child from wait4).

    python3 bench/ab.py PYTHON WORKLOAD UNITS ROUNDS BUILD[,VAR=VALUE...] [...]
    python3 bench/ab.py /usr/bin/python3.11 bench/workloads/deep300.py 1323 9 build /tmp/old/build
    python3 bench/ab.py /usr/bin/python3.11 bench/workloads/fib.py 1002 9 build \
        build,PYINSTR_INTERVAL=100us

Each BUILD may carry PYINSTR_* settings of its own after commas.

UNITS is the workload's amount of work (bench/run.py prints the calibrated one). A change
that does not move a ratio by more than this run's spread between builds has no cost that
these runs can see; `make bench` remains the measure of record. Each median is given with the
interval that holds the true median with 95% probability (bench/stats.py): two bare runs of
fib differ by about 4%, so a median of a few pairs is not known to a point.
"""
import os
import statistics
import subprocess
import sys
import tempfile
import time

from stats import median_interval


def run(python, workload, units, build, outdir):
    env = dict(os.environ)
    if build:
        directory, *settings = build.split(",")
        env["LD_PRELOAD"] = os.path.join(os.path.abspath(directory), "libpyinstr.so")
        env["PYINSTR_OUTPUT"] = os.path.join(outdir, "ab-%p.prof")
        env["PYINSTR_QUIET"] = "1"
        for setting in settings:
            name, _, value = setting.partition("=")
            env[name] = value
    started = time.monotonic()
    child = subprocess.Popen([python, os.path.abspath(workload), str(units)], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             cwd=os.path.dirname(os.path.abspath(workload)))
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.monotonic() - started
    if status != 0:
        sys.exit("ab: %s under %s exited with status %d" % (workload, build or "no agent",
                                                           status))
    for name in os.listdir(outdir):
        os.unlink(os.path.join(outdir, name))
    return wall, usage.ru_utime + usage.ru_stime


def main():
    if len(sys.argv) < 6:
        sys.exit(__doc__)
    python, workload, units, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    builds = sys.argv[5:]
    ratios = {build: [] for build in builds}
    with tempfile.TemporaryDirectory(prefix="pyinstr-ab-") as outdir:
        for r in range(rounds):
            order = [None] + builds
            order = order[r % len(order):] + order[:r % len(order)]
            measured = {build: run(python, workload, units, build, outdir) for build in order}
            bare_wall, bare_cpu = measured[None]
            for build in builds:
                wall, cpu = measured[build]
                ratios[build].append((wall / bare_wall, cpu / bare_cpu))
    print("%s %s, %d units, %d rounds; ratios to the bare run of the same round, median "
          "[95%% interval of the median] (min..max)" % (python, os.path.basename(workload),
                                                         units, rounds))
    for build in builds:
        cells = []
        for name, values in (("wall", [w for w, _ in ratios[build]]),
                             ("cpu", [c for _, c in ratios[build]])):
            interval = median_interval(values)
            cells.append("%s %.3f %s(%.3f..%.3f)" % (
                name, statistics.median(values),
                "[%.3f..%.3f] " % interval if interval else "", min(values), max(values)))
        print("%-32s %s" % (build, "  ".join(cells)))


main()
