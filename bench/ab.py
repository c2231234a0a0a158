"""Two or more agent builds side by side: a workload run bare and under each build in turn,
the order rotating from round to round, and each profiled run divided by the bare run of its
own round (wall time around the child, CPU time of the whole child from wait4).

    python3 bench/ab.py [--extra NAME]... PYTHON WORKLOAD UNITS ROUNDS BUILD[,VAR=VALUE...] [...]
    python3 bench/ab.py /usr/bin/python3.11 bench/workloads/deep300.py 1323 9 build /tmp/old/build
    python3 bench/ab.py /usr/bin/python3.11 bench/workloads/fib.py 1002 9 build \
        build,PYINSTR_INTERVAL=100us

Each BUILD may carry PYINSTR_* settings of its own after commas; `-` is a second bare run, a
control that shows what two runs without the agent differ by. `--extra NAME` also reads the
figure NAME from the "extra" part of the workload's BENCH-TRUTH line (idle50's
nap_over_us_p50, say) and prints each build's value minus the bare run's, per round:

    python3 bench/ab.py --extra nap_over_us_p50 PYTHON bench/workloads/idle50.py 1150 30 \
        - build build,PYINSTR_ENABLED=0 build,PYINSTR_INTERVAL=20ms

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

from agentrun import agent_env, parse_truth
from stats import median_interval


def run(python, workload, units, build, outdir):
    env = agent_env(build, os.path.join(outdir, "ab-%p.prof"))
    started = time.monotonic()
    child = subprocess.Popen([python, os.path.abspath(workload), str(units)], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             cwd=os.path.dirname(os.path.abspath(workload)))
    out = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    child.stdout.close()
    wall = time.monotonic() - started
    if status != 0:
        sys.exit("ab: %s under %s exited with status %d" % (
            workload, build if build not in (None, "-") else "no agent", status))
    for name in os.listdir(outdir):
        os.unlink(os.path.join(outdir, name))
    extra = (parse_truth(out) or {}).get("extra", {})
    return wall, usage.ru_utime + usage.ru_stime, extra


def interval_cell(values, fmt):
    interval = median_interval(values)
    return (fmt % statistics.median(values) +
            (" [%s..%s]" % (fmt % interval[0], fmt % interval[1]) if interval else ""))


def main():
    args, extras = sys.argv[1:], []
    while len(args) >= 2 and args[0] == "--extra":
        extras.append(args[1])
        args = args[2:]
    if len(args) < 5:
        sys.exit(__doc__)
    python, workload, units, rounds = args[0], args[1], int(args[2]), int(args[3])
    builds = list(dict.fromkeys(args[4:]))
    ratios = {build: [] for build in builds}
    shifts = {(build, name): [] for build in builds for name in extras}
    with tempfile.TemporaryDirectory(prefix="pyinstr-ab-") as outdir:
        for r in range(rounds):
            order = [None] + builds
            order = order[r % len(order):] + order[:r % len(order)]
            measured = {build: run(python, workload, units, build, outdir) for build in order}
            bare_wall, bare_cpu, bare_extra = measured[None]
            for build in builds:
                wall, cpu, extra = measured[build]
                ratios[build].append((wall / bare_wall, cpu / bare_cpu))
                for name in extras:
                    if name not in extra or name not in bare_extra:
                        sys.exit("ab: the workload printed no extra figure %r" % name)
                    shifts[build, name].append(extra[name] - bare_extra[name])
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
        for name in extras:
            print("%-32s   %s minus bare's: %s" % ("", name,
                                                   interval_cell(shifts[build, name], "%+.1f")))


main()
