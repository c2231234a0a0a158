#!/usr/bin/env python3
"""make bench: what pyinstr costs and how right it is, beside cProfile, in one table.

    python3 bench/run.py --build build [--quick] [--python PATH]... [--workload NAME]...
                         [--rounds N] [--seconds S] [--report-samples N] [--no-report]

For every interpreter (pyenv's 3.8 to 3.13 and Debian's python3.11, or each --python), every
workload in bench/workloads runs with a fixed amount of work (calibrated once to take about
--seconds) in rounds. A round runs the workload bare, under pyinstr at 1 ms and at 100 us, and
under cProfile (and pyinstrument, py-spy or austin when installed), and for the call-heavy,
deep-stack and per-sample-cost workloads under "baseline" (bench/baseline.c: a CPU-time timer
on the busy thread with an empty handler: what signal delivery alone costs on this machine), in an order that rotates from round to round; each profiled run is compared with the
bare run of its own round.

Columns:
  wall x, cpu x   median ratio profiled/bare over the rounds (min..max); CPU is user+sys of the
                  whole process (all its threads, the agent's included) from wait4()
  samples         samples that read a stack, per run (pyinstr; repeats not counted), and
                  after the slash those of them that carry CPU time: the CPU view has only
                  these (a thread found waiting, or waiting for the GIL, adds wall time only)
  ns/sample       (profiled CPU - bare CPU) / samples that cost a signal, median over rounds:
                  everything sampling costs, the agent's own threads included
  in-thread       the same from the sampled threads' own CPU time (thread_time around the
                  work): signal delivery plus the handler
  handler         ns per run of the agent's signal handler, as the agent itself measures it
                  (profile counters handler_ns / handler_runs), median over rounds
  wall/cpu err    |reported share - true share| in percentage points, per function. The truth
                  is what the profiled runs themselves measured around large blocks
                  (bench/workloads/benchlib.py): whether the profile reads what its process did.
                  The reported share is pooled over all rounds, from `pyinstr-report --format
                  collapsed` (wall: microseconds; cpu: with --metric cpu). The bench also
                  reads each profile itself (docs/FORMAT.md) and notes where the file's
                  wall_ns / cpu_ns would give a share more than 0.5 points away; without a
                  usable report it uses the file's figures.
  split shift     the profiled runs' own wall share minus the bare runs', for the function it
                  moved most, +- two standard errors from the spread of single runs' shares:
                  whether the profiler changed what the program did (cProfile slows calls).
                  One process splits its time differently from the next with the same work
                  (fib on 3.11: 58.4% to 61.5% bare), hence the error bar.

The pyinstr row at 1 ms of fib and split7030 then runs alone, unpaired, until its runs have
--accuracy-samples samples pooled (10,000, what the accuracy target judges): its errors are
taken over all its runs, its ratios over the pairs only. An error over 1 point reads MISSED
where it stays over with two standard errors of sampling (100 * sqrt(p(1-p)/n) points) taken
off, unsure where sampling alone could have made it.

idle50's naps are judged by the median nap, profiled minus bare in each pair: ok where the
median difference's 95% interval reaches 0 (no change the pairs can see).

The pyinstr rows that the targets judge (fib and deep300 at 1 ms and 100 us, idle50 at 1 ms;
depth100 at 100 us, for the handler's cost) get more pairs than the other rows (--judge-pairs,
default 15): after the rounds, bare and those rows' pyinstr runs take turns until they have
that many. On this project's VM one process runs a few percent faster or slower than the
next with the same work, however long it runs, so a median of five pairs moves by about 1.5%
from one bench run to the next: as much as the margin under a target. Even 15 pairs leave a
median uncertain by a point or more, so a ratio target reads ok where the median is within
it, MISSED where the median's 95% interval (bench/stats.py) lies wholly beyond it, and unsure
in between.

Then pyinstr-report's time and peak memory on a synthetic 10-million-sample profile, and the
issue-4 targets, each marked ok, MISSED or unsure. Results also go to
BUILD/bench/results.{txt,json}.
--quick: 3 rounds of about 0.5 s and a 1-million-sample report profile, for trying things out.
"""

import argparse
import datetime
import glob
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
WORKLOADS_DIR = os.path.join(HERE, "workloads")
sys.path.insert(0, HERE)
import pyiformat  # noqa: E402
from agentrun import parse_truth  # noqa: E402
from stats import median_interval  # noqa: E402

REGION = "region"
BUSY_LOAD = 1.6  # 1-minute load average above which a workload's figures are flagged
QUIET_CORES = 0.3  # other processes' CPU use (cores) under which the machine counts as quiet
DEBIAN_PYTHON = "/usr/bin/python3.11"
MIN_MINOR = 8


class Workload:
    def __init__(self, name, script, funcs, what, args=(), cost_only=False, threaded=False,
                 baseline=False):
        self.name = name
        self.baseline = baseline  # also run under the empty-signal baseline (bench/baseline.c)
        self.threaded = threaded  # work off the main thread: cProfile cannot see it
        self.script = os.path.join(WORKLOADS_DIR, script)
        self.funcs = funcs
        self.what = what
        self.args = list(args)
        self.cost_only = cost_only  # per-sample cost: pyinstr only, no accuracy


WORKLOADS = [
    Workload("fib", "fib.py", ("fib", "loop"), "recursive fib beside a loop (many tiny calls)",
             baseline=True),
    Workload("deep300", "deep300.py", ("deep_work", "shallow_work"), "300-frame stacks",
             baseline=True),
    Workload("split7030", "split7030.py", ("seventy", "thirty"), "a 70/30 split"),
    Workload("sleepmix", "sleepmix.py", ("compute", "nap"), "sleep + CPU"),
    Workload("threads4", "threads4.py", ("work_a", "work_b"), "four threads", threaded=True),
    Workload("asyncio", "asyncio_tasks.py", ("task_a", "task_b"), "eight asyncio tasks"),
    Workload("idle50", "idle50.py", ("busy_a", "busy_b", "idle_wait"),
             "50 idle threads beside one busy one", threaded=True),
    Workload("depth10", "depth.py", ("leaf",), "stack 10 deep", args=["10"], cost_only=True,
             baseline=True),
    Workload("depth100", "depth.py", ("leaf",), "stack 100 deep", args=["100"], cost_only=True,
             baseline=True),
    Workload("depth1000", "depth.py", ("leaf",), "stack 1000 deep", args=["1000"],
             cost_only=True, baseline=True),
]


class Config:
    def __init__(self, profiler, interval=None, jitter=False):
        self.profiler = profiler
        self.interval = interval
        self.jitter = jitter  # pyinstr with PYINSTR_JITTER=1: shown apart, judged by no target

    @property
    def label(self):
        return self.profiler + ("+jitter" if self.jitter else "")

    @property
    def key(self):
        return self.label + ("@" + self.interval if self.interval else "")


BARE = Config("bare")
PYINSTR = [Config("pyinstr", "1ms"), Config("pyinstr", "100us")]
JITTER = [Config("pyinstr", "1ms", jitter=True), Config("pyinstr", "4ms", jitter=True)]
BASELINE = [Config("baseline", "1ms"), Config("baseline", "100us")]
INTERVAL_NS = {"1ms": 1000000, "100us": 100000}
CPROFILE = Config("cProfile")
# The pyinstr rows of each workload that a target judges: fib's and deep300's at both
# intervals for overhead (a median of five pairs over 5% at 100 us said nothing more than
# that: 1.053, its pairs 0.999..1.086, where 1 ms, sampled at the same rate, read 1.012),
# idle50's at 1 ms, and depth100's at 100 us for the handler's cost (a run's mean moves with
# a few slow samples among its 250).
JUDGED = {"fib": ("1ms", "100us"), "deep300": ("1ms", "100us"), "idle50": ("1ms",),
          "depth100": ("100us",)}
JUDGED_TEXT = ", ".join("%s@%s" % (w, "/".join(iv)) for w, iv in JUDGED.items())
# The workloads whose pyinstr row at 1 ms gets runs of its own, unpaired, until its runs have
# --accuracy-samples samples pooled: the accuracy target judges 10,000, and at an event's
# 8 ms a 2-second run has about 250.
ACCURACY = ("fib", "split7030")
OTHERS = ("pyinstrument", "py-spy", "austin")


# ---------------------------------------------------------------------------------------------
# Interpreters and tools


def pyenv_root():
    if shutil.which("pyenv"):
        try:
            out = subprocess.run(["pyenv", "root"], stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, timeout=20, check=True)
            if out.stdout.strip():
                return out.stdout.decode().strip()
        except (OSError, subprocess.SubprocessError):
            pass
    return os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")


def probe(python):
    """(version string, (major, minor)) or None."""
    try:
        out = subprocess.run([python, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=30,
                             env=clean_env())
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.match(r"(\d+)\.(\d+)\.(\d+)", out.stdout.decode())
    if out.returncode != 0 or not m:
        return None
    return m.group(0), (int(m.group(1)), int(m.group(2)))


def discover_pythons(requested):
    """[(label, path)]: the --python ones, else every supported one on the machine."""
    found, notes = [], []
    if requested:
        candidates = [(p, "") for p in requested]
    else:
        candidates = []
        for path in sorted(glob.glob(os.path.join(pyenv_root(), "versions", "*", "bin",
                                                  "python3"))):
            candidates.append((path, "pyenv"))
        candidates.append((DEBIAN_PYTHON, "debian"))
    seen = set()
    for path, origin in candidates:
        real = os.path.realpath(path)
        if real in seen:
            continue
        seen.add(real)
        got = probe(path)
        if not got:
            notes.append("%s: does not run, skipped" % path)
            continue
        version, (major, minor) = got
        if (major, minor) < (3, MIN_MINOR):
            if requested:
                notes.append("%s: CPython %s is not supported, skipped" % (path, version))
            continue
        label = version + (" " + origin if origin == "debian" else "")
        found.append((label, path))
    if not requested and not os.path.exists(DEBIAN_PYTHON):
        notes.append("%s: not installed, skipped" % DEBIAN_PYTHON)
    found.sort(key=lambda lp: [int(x) for x in lp[0].split()[0].split(".")] + [lp[0]])
    return found, notes


def find_other_profilers(pythons):
    """{name: how it is run or None} for pyinstrument, py-spy, austin."""
    have = {}
    have["py-spy"] = shutil.which("py-spy")
    have["austin"] = shutil.which("austin")
    have["pyinstrument"] = None
    for _label, py in pythons:
        r = subprocess.run([py, "-c", "import pyinstrument"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, env=clean_env())
        if r.returncode == 0:
            have["pyinstrument"] = "module"
            break
    return have


def clean_env():
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PYINSTR_") and k != "LD_PRELOAD"}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PYTHONHASHSEED"] = "0"
    return env


# ---------------------------------------------------------------------------------------------
# Running one child


class Run:
    def __init__(self):
        self.ok = False
        self.why = ""
        self.wall = self.cpu = 0.0
        self.maxrss_kb = 0
        self.truth = None
        self.weights = {}       # metric -> {name: weight}, only for profilers
        self.samples = None
        self.signal_samples = None
        self.stacks_read = None
        self.cpu_samples = None
        self.counters = {}
        self.stderr = ""
        self.wall_source = None  # pyinstr: "report" (collapsed counts) or "file" (wall_ns)


def exit_code(status):
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status)
    if os.WIFSIGNALED(status):
        return -os.WTERMSIG(status)
    return -1


def spawn(argv, env, timeout):
    """Runs argv; returns (returncode, wall s, cpu s, maxrss KiB, stdout, stderr)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(argv, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        killer = threading.Timer(timeout, lambda: os.kill(p.pid, signal.SIGKILL))
        killer.start()
        try:
            _pid, status, ru = os.wait4(p.pid, 0)
        finally:
            killer.cancel()
        wall = time.perf_counter() - t0
        p.returncode = exit_code(status)  # reaped here: Popen must not wait again
        out.seek(0)
        err.seek(0)
        return (p.returncode, wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss, out.read(),
                err.read())


def frame_name(frame):
    """Function name of one collapsed-stack frame: 'name (file:line)' or austin's 'file:name:line'."""
    if frame.endswith(")") and " (" in frame:
        return frame[:frame.rfind(" (")]
    parts = frame.rsplit(":", 2)
    if len(parts) == 3 and parts[2].isdigit():
        return parts[1]
    return frame


def collapsed_weights(text, names):
    """Inclusive weights (a stack counts once per name on it) over stacks that contain region."""
    wanted = set(names) | {REGION}
    weights = dict.fromkeys(wanted, 0)
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        on = {frame_name(f) for f in stack.split(";")} & wanted
        if REGION in on:
            for name in on:
                weights[name] += int(count)
    return weights


def tree_weights(node, names, path=frozenset()):
    """pyinstrument JSON: inclusive time per name, counting only outermost occurrences."""
    weights = dict.fromkeys(set(names) | {REGION}, 0.0)

    def walk(n, on_path):
        name = n.get("function", "")
        if name in weights and name not in on_path:
            weights[name] += n.get("time", 0.0)
            on_path = on_path | {name}
        for child in n.get("children", ()):
            walk(child, on_path)
    walk(node, path)
    return weights


class Bench:
    def __init__(self, args):
        self.args = args
        self.build = os.path.abspath(args.build)
        self.lib = os.path.join(self.build, "libpyinstr.so")
        self.report = os.path.join(self.build, "pyinstr-report")
        self.report_works = None
        self.tmp = tempfile.mkdtemp(prefix="pyinstr-bench-")
        self.others = {}
        self.baseline_lib = None
        self.baseline_why = ""

    def build_baseline(self):
        """Compiles bench/baseline.c next to the build's other outputs; None if it cannot."""
        out_dir = os.path.join(self.build, "bench")
        os.makedirs(out_dir, exist_ok=True)
        lib = os.path.join(out_dir, "libpyibaseline.so")
        src = os.path.join(HERE, "baseline.c")
        cc = os.environ.get("CC") or "cc"
        p = subprocess.run([cc, "-std=c11", "-D_GNU_SOURCE", "-Wall", "-Wextra", "-Werror", "-O2",
                            "-shared", "-fPIC", "-o", lib, src, "-lpthread"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if p.returncode != 0:
            self.baseline_why = "cannot build %s: %s" % (src, last_line(p.stdout.decode()))
            return
        self.baseline_lib = lib

    def command(self, cfg, python, wl, units, tmpname):
        """(argv, env, output path) for one run."""
        argv = [python, wl.script, str(units)] + wl.args
        env = clean_env()
        out = os.path.join(self.tmp, tmpname)
        if cfg.profiler == "pyinstr":
            env["LD_PRELOAD"] = self.lib
            env["PYINSTR_OUTPUT"] = out
            env["PYINSTR_INTERVAL"] = cfg.interval
            if cfg.jitter:
                env["PYINSTR_JITTER"] = "1"
        elif cfg.profiler == "baseline":
            env["LD_PRELOAD"] = self.baseline_lib
            env["PYIBASE_INTERVAL_NS"] = str(INTERVAL_NS[cfg.interval])
            env["PYIBASE_OUT"] = out
        elif cfg.profiler == "cProfile":
            argv = [python, os.path.join(HERE, "cprofile_run.py"), out] + argv[1:]
        elif cfg.profiler == "pyinstrument":
            argv = [python, "-m", "pyinstrument", "-r", "json", "-o", out] + argv[1:]
        elif cfg.profiler == "py-spy":
            argv = [self.others["py-spy"], "record", "-r", "1000", "-f", "raw", "-o", out,
                    "--"] + argv
        elif cfg.profiler == "austin":
            argv = [self.others["austin"], "-i", "1000", "-o", out] + argv
        return argv, env, out

    def run(self, cfg, python, wl, units):
        r = Run()
        argv, env, out = self.command(cfg, python, wl, units, "out-%d" % os.getpid())
        if os.path.exists(out):
            os.unlink(out)
        timeout = max(120.0, self.args.seconds * 60)
        rc, r.wall, r.cpu, r.maxrss_kb, stdout, stderr = spawn(argv, env, timeout)
        r.stderr = stderr.decode("utf-8", "replace")
        r.truth = parse_truth(stdout)
        if rc != 0 or r.truth is None:
            r.why = "exit status %s: %s" % (rc, last_line(r.stderr))
            return r
        try:
            if cfg.profiler == "pyinstr":
                self.read_pyinstr(r, out, wl)
            elif cfg.profiler == "baseline":
                with open(out) as f:
                    r.signal_samples = int(f.read().split()[0])
            elif cfg.profiler == "cProfile":
                with open(out) as f:
                    cum = json.load(f)
                r.weights["wall"] = {n: cum.get(n, 0.0) for n in wl.funcs + (REGION,)}
            elif cfg.profiler == "pyinstrument":
                with open(out) as f:
                    session = json.load(f)
                r.weights["wall"] = tree_weights(session.get("root_frame", session), wl.funcs)
            elif cfg.profiler in ("py-spy", "austin"):
                with open(out, errors="replace") as f:
                    r.weights["wall"] = collapsed_weights(f.read(), wl.funcs)
        except (OSError, ValueError, pyiformat.ProfileError) as e:
            r.why = "no usable profile: %s; %s" % (e, last_line(r.stderr))
            return r
        finally:
            if os.path.exists(out):
                os.unlink(out)
        r.ok = True
        return r

    def read_pyinstr(self, r, path, wl):
        t = pyiformat.tally(path, REGION, wl.funcs)
        if t.samples == 0:
            raise pyiformat.ProfileError("the profile has no samples")
        r.samples, r.signal_samples, r.counters = t.samples, t.signal_samples, t.counters
        r.stacks_read = t.signal_samples  # samples that read a stack (not repeats)
        r.cpu_samples = t.cpu_samples
        # Samples that cost a signal: the handler's runs (the sampler's reads of threads off
        # the CPU and its repeats cost none).
        if "handler_runs" in t.counters:
            r.signal_samples = t.counters["handler_runs"]
        r.weights["cpu"] = r.weights["cpu_ns"] = dict(t.cpu)
        r.weights["wall"] = r.weights["wall_ns"] = dict(t.wall)
        r.wall_source = "file"
        if self.report_usable():
            for metric, extra_args in (("wall", []), ("cpu", ["--metric", "cpu"])):
                p = subprocess.run([self.report, "--format", "collapsed"] + extra_args + [path],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=600)
                if p.returncode != 0:
                    if metric == "cpu":
                        break  # an older report without --metric: keep the file's cpu_ns
                    raise pyiformat.ProfileError("pyinstr-report failed: %s" % (
                        last_line(p.stderr.decode("utf-8", "replace"))))
                r.weights[metric] = collapsed_weights(p.stdout.decode("utf-8", "replace"),
                                                      wl.funcs)
            r.wall_source = "report"

    def report_usable(self):
        if self.report_works is None:
            self.report_works = False
            if os.access(self.report, os.X_OK):
                p = subprocess.run([self.report, "--help"], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE)
                self.report_works = p.returncode == 0 and b"collapsed" in p.stdout + p.stderr
        return self.report_works

    def calibrate(self, python, wl):
        """Units of work for about --seconds of bare wall time (two runs, so start-up cancels).

        The second run grows until the work it adds takes a quarter of --seconds (at most a
        second): with 10 and 40 units, start-up outweighed a fast workload's work, and a
        14-second fib on Debian's 3.11 came out at 7.4 s."""
        small = 10
        _, w1, *_ = spawn([python, wl.script, str(small)] + wl.args, clean_env(), 300)
        enough = min(1.0, self.args.seconds / 4)
        big = small * 4
        while True:
            _, w2, *_ = spawn([python, wl.script, str(big)] + wl.args, clean_env(), 300)
            if w2 - w1 >= enough or big >= small * 4 ** 6:
                break
            big *= 4
        # On a busy machine the difference can come out tiny or negative: never trust it
        # below half the plain average, which still includes start-up.
        per_unit = max((w2 - w1) / (big - small), w2 / big / 2, 1e-6)
        return max(small, int(self.args.seconds / per_unit))


def last_line(text):
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:200] if lines else "(no message)"


# ---------------------------------------------------------------------------------------------
# Aggregation


def median_range(values, fmt):
    if not values:
        return "-"
    return (fmt % statistics.median(values)) + " (" + (fmt % min(values)) + ".." + \
        (fmt % max(values)) + ")"


def pooled_shares(runs, metric, names, source):
    """Shares of names pooled over runs; source 'truth' uses each run's measured truth."""
    total, parts = 0.0, dict.fromkeys(names, 0.0)
    for r in runs:
        w = r.truth[metric] if source == "truth" else r.weights.get(metric)
        if not w:
            return None
        total += w.get(REGION, 0.0)
        for n in names:
            parts[n] += w.get(n, 0.0)
    if total <= 0:
        return None
    return {n: parts[n] / total for n in names}


def errors_cell(rep, truth):
    if not rep or not truth:
        return "-", None
    errs = {n: abs(rep[n] - truth[n]) * 100 for n in truth}
    return " ".join("%s %.1f" % (n, e) for n, e in errs.items()), max(errs.values())


def worst_truth_share(rep, truth):
    """The true share of the function whose reported share is furthest from it."""
    if not rep or not truth:
        return None
    return truth[max(truth, key=lambda n: abs(rep[n] - truth[n]))]


def sampling_se_points(share, samples):
    """One standard error, in points, of a share read from that many samples taken at
    independent random points: what sampling alone leaves (0.5 points at 50% and 10,000)."""
    return 100 * (share * (1 - share) / samples) ** 0.5


def run_shares(runs, metric, name):
    return [r.truth[metric][name] / r.truth[metric][REGION] for r in runs
            if r.truth[metric].get(REGION)]


def split_shift(bares, profs, names):
    """(name, points, two standard errors or None): how far the profiled runs' own wall split
    is from the bare runs', for the function it moved most."""
    worst = None
    for name in names:
        b, p = run_shares(bares, "wall", name), run_shares(profs, "wall", name)
        if not b or not p:
            return None
        by = (statistics.mean(p) - statistics.mean(b)) * 100
        bar = None
        if len(b) > 1 and len(p) > 1:
            bar = 2 * 100 * (statistics.variance(b) / len(b) +
                             statistics.variance(p) / len(p)) ** 0.5
        if worst is None or abs(by) > abs(worst[1]):
            worst = (name, by, bar)
    return worst


class Row:
    def __init__(self, **kw):
        self.cells = kw
        self.data = {}


COLUMNS = [("python", "python"), ("workload", "workload"), ("profiler", "profiler"),
           ("interval", "interval"), ("wall", "wall x"), ("cpu", "cpu x"),
           ("samples", "samples"), ("cost", "ns/sample"), ("thread_cost", "in-thread"),
           ("handler", "handler"),
           ("wall_err", "wall err (pts)"),
           ("cpu_err", "cpu err (pts)"), ("shift", "split shift (pts)"), ("notes", "notes")]


def summarize(label, wl, cfg, pairs, alone=()):
    """pairs: [(bare Run, profiled Run)] for one configuration; alone: more profiled Runs,
    for its shares only. Returns a Row."""
    row = Row(python=label, workload=wl.name, profiler=cfg.label,
              interval=cfg.interval or "-")
    good = [(b, p) for b, p in pairs if b.ok and p.ok]
    failed = [p for _b, p in pairs if not p.ok]
    notes = []
    if failed:
        notes.append("FAILED %d/%d: %s" % (len(failed), len(pairs), failed[0].why))
    if not good:
        row.cells.update(notes="; ".join(notes))
        row.data = {"failed": True}
        return row
    wall_ratios = [p.wall / b.wall for b, p in good]
    cpu_ratios = [p.cpu / b.cpu for b, p in good if b.cpu > 0]
    row.cells.update(wall=median_range(wall_ratios, "%.3f"), cpu=median_range(cpu_ratios, "%.3f"))
    row.data.update(pairs=len(good), wall_ratio=statistics.median(wall_ratios),
                    cpu_ratio=statistics.median(cpu_ratios) if cpu_ratios else None,
                    wall_ratio_interval=median_interval(wall_ratios),
                    cpu_ratio_interval=median_interval(cpu_ratios))
    bares = [b for b, _p in good]
    profs = [p for _b, p in good]
    failed_alone = [p for p in alone if not p.ok]
    if failed_alone:
        notes.append("FAILED %d/%d unpaired: %s" % (len(failed_alone), len(alone),
                                                    failed_alone[0].why))
    alone = [p for p in alone if p.ok]
    if cfg.profiler in ("pyinstr", "baseline"):
        if cfg.profiler == "pyinstr":
            samples = [p.stacks_read for p in profs]
            cpu_samples = [p.cpu_samples for p in profs]
            row.cells["samples"] = "%d/%d" % (statistics.median(samples),
                                              statistics.median(cpu_samples))
            row.data["samples_pooled"] = sum(samples + [p.stacks_read for p in alone])
            row.data["cpu_samples_pooled"] = sum(cpu_samples + [p.cpu_samples for p in alone])
        else:
            row.cells["samples"] = "%d" % statistics.median(p.signal_samples for p in profs)
        costs = [(p.cpu - b.cpu) / p.signal_samples * 1e9 for b, p in good if p.signal_samples]
        if costs:
            row.cells["cost"] = "%.0f" % statistics.median(costs)
            row.data["ns_per_sample"] = statistics.median(costs)
        # The sampled threads' own CPU (thread_time inside region): signal delivery and handler,
        # without the agent's threads.
        costs = [(p.truth["cpu"][REGION] - b.truth["cpu"][REGION]) / p.signal_samples * 1e9
                 for b, p in good if p.signal_samples]
        if costs:
            row.cells["thread_cost"] = "%.0f" % statistics.median(costs)
            row.data["thread_ns_per_sample"] = statistics.median(costs)
    if cfg.profiler == "pyinstr":
        # The agent times its own handler (counters handler_ns / handler_runs).
        handler = [p.counters["handler_ns"] / p.counters["handler_runs"] for p in profs
                   if p.counters.get("handler_runs")]
        if handler:
            row.cells["handler"] = "%.0f" % statistics.median(handler)
            row.data["handler_ns"] = statistics.median(handler)
        lost = {}
        for p in profs:
            for k in ("dropped_ring_full", "truncated", "abandoned_fault", "unknown_frames",
                      "intern_full"):
                lost[k] = lost.get(k, 0) + p.counters.get(k, 0)
        lost = {k: v for k, v in lost.items() if v}
        if lost:
            notes.append("lost: " + ", ".join("%s %d" % kv for kv in sorted(lost.items())))
    if not wl.cost_only:
        names = wl.funcs
        # Two questions, each measured where it can be answered. Does the profile read what
        # this process did? Against the truth the profiled runs measured themselves. Did the
        # profiler change what the process did (cProfile slows calls, so fib takes a bigger
        # share)? The profiled runs' truth against the bare runs'. The second carries the
        # spread between processes: one bare fib run on 3.11 gives fib 58.4% and the next
        # 61.5% (PERFORMANCE.md, nineteenth run), so it is shown with its error bar.
        read = profs + alone
        if alone:
            notes.append("errors over %d runs (%d of them unpaired), %d/%d samples" % (
                len(read), len(alone), row.data["samples_pooled"],
                row.data["cpu_samples_pooled"]))
        truth_wall = pooled_shares(read, "wall", names, "truth")
        truth_cpu = pooled_shares(read, "cpu", names, "truth")
        rep_wall = pooled_shares(read, "wall", names, "reported")
        rep_cpu = pooled_shares(read, "cpu", names, "reported")
        if wl.threaded and cfg.profiler in ("cProfile", "pyinstrument"):
            rep_wall = rep_cpu = None
            notes.append("%s sees the main thread only" % cfg.profiler)
        row.cells["wall_err"], row.data["wall_err"] = errors_cell(rep_wall, truth_wall)
        row.cells["cpu_err"], row.data["cpu_err"] = errors_cell(rep_cpu, truth_cpu)
        row.data["wall_err_share"] = worst_truth_share(rep_wall, truth_wall)
        row.data["cpu_err_share"] = worst_truth_share(rep_cpu, truth_cpu)
        shift = split_shift(bares, profs, names)
        if shift:
            name, by, bar = shift
            row.cells["shift"] = "%s %+.1f+-%.1f" % (name, by, bar) if bar is not None else \
                "%s %+.1f" % (name, by)
            row.data.update(shift=by, shift_bar=bar, shift_func=name, threaded=wl.threaded)
        if cfg.profiler == "pyinstr":
            if profs[0].wall_source == "report":
                # Cross-check the report against the file: they should agree.
                for metric, truth in (("wall", truth_wall), ("cpu", truth_cpu)):
                    _, err_file = errors_cell(pooled_shares(read, metric + "_ns", names,
                                                            "reported"), truth)
                    row.data[metric + "_err_file"] = err_file
                    shown = row.data[metric + "_err"]
                    if err_file is not None and shown is not None and \
                            abs(err_file - shown) > 0.5:
                        notes.append("%s err by the file's %s_ns: %.1f" % (metric, metric,
                                                                          err_file))
            else:
                notes.append("errors from the profile file (no usable pyinstr-report)")
    if wl.name == "idle50":
        over_b = [b.truth["extra"].get("nap_over_us_mean") for b in bares]
        over_p = [p.truth["extra"].get("nap_over_us_mean") for p in profs]
        errs = sum(p.truth["extra"].get("errors", 0) for p in profs)
        if None not in over_b + over_p:
            notes.append("10ms naps overshoot %.0fus (bare %.0fus); errors %d" % (
                statistics.median(over_p), statistics.median(over_b), errs))
            row.data.update(nap_over_us=statistics.median(over_p),
                            nap_over_us_bare=statistics.median(over_b), idle_errors=errs)
        # The typical nap, profiled minus bare in each pair. A nap's mean carries the
        # waits for the GIL behind the busy thread, whose tail (a 99th percentile of
        # 35 ms) differs from process to process by hundreds of microseconds; its median
        # differs by tens.
        mid_b = [b.truth["extra"].get("nap_over_us_p50") for b in bares]
        mid_p = [p.truth["extra"].get("nap_over_us_p50") for p in profs]
        if None not in mid_b + mid_p:
            shifts = [p - b for b, p in zip(mid_b, mid_p)]
            row.data.update(nap_p50_shift_us=statistics.median(shifts),
                            nap_p50_shift_interval=median_interval(shifts),
                            nap_p50_bare_us=statistics.median(mid_b))
    row.cells["notes"] = "; ".join(notes)
    return row


def compare_with_baseline(mine, base):
    """Notes what pyinstr adds above the machine's own cost of ticking and signalling."""
    a, b = mine.data.get("ns_per_sample"), base.data.get("ns_per_sample")
    if a is None or b is None:
        return
    mine.data["agent_ns_per_sample"] = a - b
    extra = "agent's own %.0f ns/sample above the baseline" % (a - b)
    ta, tb = mine.data.get("thread_ns_per_sample"), base.data.get("thread_ns_per_sample")
    if ta is not None and tb is not None:
        mine.data["agent_thread_ns_per_sample"] = ta - tb
        extra += " (%.0f in-thread)" % (ta - tb)
    mine.cells["notes"] = "; ".join(x for x in (mine.cells.get("notes"), extra) if x)


def bare_row(label, wl, runs):
    row = Row(python=label, workload=wl.name, profiler="bare", interval="-")
    good = [r for r in runs if r.ok]
    if not good:
        row.cells["notes"] = "FAILED: " + runs[0].why
        return row
    row.cells["wall"] = "%.2f s" % statistics.median(r.wall for r in good)
    row.cells["cpu"] = "%.2f s" % statistics.median(r.cpu for r in good)
    if not wl.cost_only:
        tw = pooled_shares(good, "wall", wl.funcs, "truth")
        tc = pooled_shares(good, "cpu", wl.funcs, "truth")
        fmt = lambda s: " ".join("%s %.1f%%" % (n, v * 100) for n, v in s.items()) if s else "-"
        row.cells["notes"] = "truth wall: %s | cpu: %s" % (fmt(tw), fmt(tc))
    else:
        row.cells["notes"] = wl.what
    return row


def render(rows):
    widths = {k: len(h) for k, h in COLUMNS}
    for r in rows:
        for k, _h in COLUMNS:
            widths[k] = max(widths[k], len(str(r.cells.get(k, ""))))
    lines = ["  ".join(h.ljust(widths[k]) for k, h in COLUMNS).rstrip(),
             "  ".join("-" * widths[k] for k, _h in COLUMNS)]
    last_group = None
    for r in rows:
        group = (r.cells.get("python"), r.cells.get("workload"))
        if last_group is not None and group[0] != last_group[0]:
            lines.append("")
        last_group = group
        lines.append("  ".join(str(r.cells.get(k, "")).ljust(widths[k])
                               for k, _h in COLUMNS).rstrip())
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Targets (issue 4)


def worst_verdict(verdicts):
    """One line's verdict from its checks': MISSED if any missed, else unsure if any was."""
    return next((v for v in ("MISSED", "unsure") if v in verdicts), "ok")


def targets(label, rows):
    """[(target, 'ok' | 'MISSED' | 'n/a', detail)] for one interpreter's rows."""
    mine = {(r.cells["workload"], r.cells["profiler"], r.cells["interval"]): r.data for r in rows
            if r.cells.get("python") == label}
    out = []

    def ratio_verdict(d, key, limit):
        """ok where the median is within the limit; MISSED where the median's 95% interval
        lies wholly beyond it; unsure where the median is over but the interval reaches the
        limit (a median of 15 pairs is uncertain by a point or more: bench/stats.py)."""
        if d[key] <= limit:
            return "ok"
        interval = d.get(key + "_interval")
        return "MISSED" if interval is None or interval[0] > limit else "unsure"

    def ratio_text(w, d, key):
        interval = d.get(key + "_interval")
        return "%s %.3f%s" % (w, d[key], " [%.3f..%.3f]" % tuple(interval) if interval else "")

    def ratio_check(name, key, interval, limit, workloads=("fib", "deep300")):
        data = [(w, mine.get((w, "pyinstr", interval), {})) for w in workloads]
        if any(d.get(key) is None for _w, d in data):
            out.append((name, "n/a", "no data"))
            return
        verdicts = [ratio_verdict(d, key, limit) for _w, d in data]
        verdict = worst_verdict(verdicts)
        pairs = sorted({d.get("pairs") for _w, d in data})
        out.append((name, verdict, ", ".join(ratio_text(w, d, key) for w, d in data) +
                    " (median [95%% interval] of %s pairs)" % "/".join(str(n) for n in pairs)))

    ratio_check("wall <= 2% at 1ms", "wall_ratio", "1ms", 1.02)
    ratio_check("wall <= 5% at 100us", "wall_ratio", "100us", 1.05)
    ratio_check("cpu <= 3% at 1ms", "cpu_ratio", "1ms", 1.03)
    acc = []
    # Each view is judged where it has the samples: the CPU view's are those carrying CPU.
    # Samples at random points read a share with an error of their own (one standard error
    # is 0.5 points at 50% and 10,000 samples), so an error over 1 point reads MISSED where
    # it stays over with two standard errors taken off, and unsure where sampling alone
    # could have made it.
    for (w, prof, _iv), d in sorted(mine.items()):
        if prof != "pyinstr":
            continue
        for key, count in (("wall_err", "samples_pooled"), ("cpu_err", "cpu_samples_pooled")):
            if d.get(key) is not None and d.get(count, 0) >= 10000:
                share = d.get(key + "_share")
                se = sampling_se_points(share, d[count]) if share is not None else None
                acc.append(("%s@%s %s" % (w, _iv, key.split("_")[0]), d[key], se, d[count]))
    if acc:
        def acc_verdict(a):
            if a[1] <= 1.0:
                return "ok"
            return "unsure" if a[2] is not None and a[1] - 2 * a[2] <= 1.0 else "MISSED"
        verdicts = [acc_verdict(a) for a in acc]
        verdict = worst_verdict(verdicts)
        worst = max(acc, key=lambda a: a[1])
        out.append(("accuracy <= 1 pt (>= 10k samples)", verdict,
                    "worst %s %.1f%s of %d checks" % (
                        worst[0], worst[1],
                        " (2 SE of sampling at %d samples: %.1f)" % (worst[3], 2 * worst[2])
                        if worst[2] is not None else "", len(acc))))
    else:
        out.append(("accuracy <= 1 pt (>= 10k samples)", "n/a", "no run with 10k samples"))
    # Whether profiling changed the program's own split: judged where one thread does the work
    # (how threads share the GIL differs from run to run anyway). The shift carries the
    # spread between processes, so a shift over 1 point but within its error bar is "unsure".
    shifts = [("%s@%s" % (w, iv), d) for (w, prof, iv), d in sorted(mine.items())
              if prof == "pyinstr" and d.get("shift") is not None and not d.get("threaded")]
    name = "profiled split within 1 pt of bare"
    if shifts:
        where, d = max(shifts, key=lambda s: abs(s[1]["shift"]))
        bar = d.get("shift_bar")
        over = abs(d["shift"]) > 1.0
        verdict = "ok" if not over else (
            "MISSED" if bar is not None and abs(d["shift"]) - bar > 1.0 else "unsure")
        out.append((name, verdict, "worst %s %s %+.1f pts%s of %d rows" % (
            where, d["shift_func"], d["shift"],
            " +-%.1f (2 SE over %d pairs)" % (bar, d.get("pairs")) if bar is not None else "",
            len(shifts))))
    else:
        out.append((name, "n/a", "no data"))
    idle = mine.get(("idle50", "pyinstr", "1ms"), {})
    if idle.get("wall_ratio") is not None:
        verdict = "MISSED" if idle.get("idle_errors") else ratio_verdict(idle, "wall_ratio",
                                                                          1.02)
        out.append(("50 idle threads add <= 2%, no error", verdict,
                    "%s (median [95%% interval] of %s pairs), errors %s, nap overshoot %sus "
                    "(bare %sus)" % (
                        ratio_text("wall", idle, "wall_ratio"), idle.get("pairs"),
                        idle.get("idle_errors"),
                        fmt_opt(idle.get("nap_over_us")), fmt_opt(idle.get("nap_over_us_bare")))))
    else:
        out.append(("50 idle threads add <= 2%, no error", "n/a", "no data"))
    name = "50 idle threads' naps unchanged"
    if idle.get("nap_p50_shift_us") is not None:
        interval = idle.get("nap_p50_shift_interval")
        # A change is one the pairs can see: the median's interval wholly on one side of 0.
        verdict = "unsure" if interval is None else (
            "ok" if interval[0] <= 0 <= interval[1] else "MISSED")
        out.append((name, verdict, "median nap %+.0fus%s profiled minus bare (median of %s "
                    "pairs; bare naps overshoot 10 ms by %.0fus)" % (
                        idle["nap_p50_shift_us"],
                        " [%+.0f..%+.0f]" % tuple(interval) if interval else "",
                        idle.get("pairs"), idle["nap_p50_bare_us"])))
    else:
        out.append((name, "n/a", "no data"))
    d100 = mine.get(("depth100", "pyinstr", "100us"), {})
    name = "handler <= 2us per sample at depth 100"
    context = []
    if d100.get("agent_ns_per_sample") is not None:
        context.append("all costs %.0f ns/sample of which the empty-signal baseline %.0f" % (
            d100["ns_per_sample"], d100["ns_per_sample"] - d100["agent_ns_per_sample"]))
    elif d100.get("ns_per_sample") is not None:
        context.append("all costs %.0f ns/sample" % d100["ns_per_sample"])
    if d100.get("handler_ns") is not None:
        out.append((name, "ok" if d100["handler_ns"] <= 2000 else "MISSED",
                    "; ".join(["handler %.0f ns (agent's own timing, median of %s runs) at "
                               "100us" % (d100["handler_ns"], d100.get("pairs"))] + context)))
    elif d100.get("agent_ns_per_sample") is not None:
        own = d100["agent_ns_per_sample"]
        out.append((name, "ok" if own <= 2000 else "MISSED",
                    "%.0f ns above the baseline; %s" % (own, "; ".join(context))))
    else:
        out.append((name, "n/a", "no data"))
    base = [mine.get((w, "baseline", "1ms"), {}).get("cpu_ratio") for w in ("fib", "deep300")]
    if None not in base:
        out.append(("(machine) empty-signal baseline cpu at 1ms", "info",
                    "fib %.3f, deep300 %.3f" % tuple(base)))
    return out


def fmt_opt(v):
    return "-" if v is None else "%.0f" % v


# ---------------------------------------------------------------------------------------------
# pyinstr-report throughput


def report_throughput(bench, samples, label_py):
    rows = []
    what = "report %s samples" % human_count(samples)
    if not os.access(bench.report, os.X_OK):
        rows.append(Row(python=label_py, workload=what, profiler="pyinstr-report",
                        interval="-", notes="not built: %s" % bench.report))
        return rows
    cache = os.path.join(bench.build, "bench")
    os.makedirs(cache, exist_ok=True)
    path = os.path.join(cache, "synthetic-%d.prof" % samples)
    if not os.path.exists(path):
        progress("generating %s (%s samples) ..." % (path, human_count(samples)))
        subprocess.run([sys.executable, os.path.join(HERE, "genprof.py"), "--samples",
                        str(samples), "--out", path], check=True)
    size = os.path.getsize(path)
    for fmt in ("text", "collapsed"):
        argv = [bench.report, "-o", os.devnull] + (["--format", fmt] if fmt != "text" else []) + \
            [path]
        runs = []
        for _ in range(3):
            rc, wall, cpu, rss, _out, err = spawn(argv, clean_env(), 900)
            runs.append((rc, wall, cpu, rss, err))
        ok = [r for r in runs if r[0] == 0]
        row = Row(python=label_py, workload="%s (%d MB)" % (what, size // 2**20),
                  profiler="pyinstr-report", interval=fmt)
        if not ok:
            row.cells["notes"] = "FAILED: exit %s: %s" % (runs[0][0],
                                                         last_line(runs[0][4].decode()))
        else:
            wall = statistics.median(r[1] for r in ok)
            rss = max(r[3] for r in ok)
            row.cells.update(wall="%.2f s" % wall, cpu="%.2f s" % statistics.median(
                r[2] for r in ok), notes="peak RSS %.0f MB; %.1f M samples/s; median of %d" % (
                rss / 1024, samples / wall / 1e6, len(ok)))
            row.data.update(seconds=wall, peak_rss_mb=rss / 1024)
        rows.append(row)
    return rows


def human_count(n):
    if n % 1000000 == 0:
        return "%dM" % (n // 1000000)
    if n % 1000 == 0:
        return "%dk" % (n // 1000)
    return str(n)


# ---------------------------------------------------------------------------------------------


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return float(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 0.0


def cpu_jiffies():
    """(busy, total) jiffies over all CPUs from /proc/stat."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return 0, 0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, sum(fields)


def others_busy(seconds=1.0):
    """Cores kept busy by other processes, measured while the bench itself waits."""
    b0, t0 = cpu_jiffies()
    time.sleep(seconds)
    b1, t1 = cpu_jiffies()
    if t1 <= t0:
        return 0.0
    return (b1 - b0) / (t1 - t0) * (os.cpu_count() or 1)


def wait_quiet(max_seconds):
    """Waits (up to max_seconds) until other processes use under QUIET_CORES; returns their use."""
    deadline = time.time() + max_seconds
    busy = others_busy()
    announced = False
    while busy > QUIET_CORES and time.time() < deadline:
        if not announced:
            progress("waiting for a quieter machine (others use %.1f cores)" % busy)
            announced = True
        busy = others_busy(5.0)
    return busy


def progress(msg):
    sys.stderr.write("bench: %s\n" % msg)
    sys.stderr.flush()


def machine():
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return "%s, %d cores, Linux %s" % (model, os.cpu_count() or 0, platform.release())


def main():
    ap = argparse.ArgumentParser(description="pyinstr overhead and accuracy benchmark")
    ap.add_argument("--build", default="build", help="build directory (default: build)")
    ap.add_argument("--python", action="append", default=[], metavar="PATH",
                    help="interpreter to measure (repeatable; default: every one found)")
    ap.add_argument("--workload", action="append", default=[], metavar="NAME",
                    help="only these workloads (repeatable): " +
                    ", ".join(w.name for w in WORKLOADS))
    ap.add_argument("--quick", action="store_true",
                    help="3 rounds of about 0.5 s, a 1M-sample report profile")
    ap.add_argument("--rounds", type=int, help="rounds per workload (default 5, quick 3)")
    ap.add_argument("--judge-pairs", type=int, metavar="N",
                    help="pairs of bare and pyinstr runs for the rows the targets judge (%s; "
                    "default 15, quick: as many as the rounds)" % JUDGED_TEXT)
    ap.add_argument("--seconds", type=float, help="bare run length (default 2, quick 0.5)")
    ap.add_argument("--report-samples", type=int,
                    help="samples in the report-throughput profile (default 10M, quick 1M)")
    ap.add_argument("--no-report", action="store_true", help="skip the report throughput")
    ap.add_argument("--no-cprofile", action="store_true", help="skip cProfile")
    ap.add_argument("--jitter", action="store_true",
                    help="also run pyinstr with PYINSTR_JITTER=1 at 1ms and 4ms (rows "
                         "pyinstr+jitter, which no target judges)")
    ap.add_argument("--wait-quiet", type=float, default=0, metavar="SECONDS",
                    help="before each workload, wait up to SECONDS for other processes to "
                    "use under %.1f cores" % QUIET_CORES)
    ap.add_argument("--accuracy-samples", type=int, metavar="N",
                    help="run pyinstr at 1ms alone on %s until its runs have N samples "
                    "pooled, for the accuracy target (default 10000, quick 0: none)" %
                    " and ".join(ACCURACY))
    ap.add_argument("--no-baseline", action="store_true",
                    help="skip the empty-signal baseline (bench/baseline.c)")
    args = ap.parse_args()
    args.rounds = args.rounds or (3 if args.quick else 5)
    args.judge_pairs = max(args.rounds, args.judge_pairs or (args.rounds if args.quick else 15))
    args.seconds = args.seconds or (0.5 if args.quick else 2.0)
    args.report_samples = args.report_samples or (1000000 if args.quick else 10000000)
    if args.accuracy_samples is None:
        args.accuracy_samples = 0 if args.quick else 10000

    bench = Bench(args)
    workloads = [w for w in WORKLOADS if not args.workload or w.name in args.workload]
    unknown = set(args.workload) - {w.name for w in WORKLOADS}
    if unknown:
        ap.error("unknown workload: %s" % ", ".join(sorted(unknown)))
    pythons, notes = discover_pythons(args.python)
    bench.others = find_other_profilers(pythons)
    if not args.no_baseline:
        bench.build_baseline()
    started = datetime.datetime.now().astimezone()

    header = ["pyinstr bench, %s" % started.strftime("%Y-%m-%d %H:%M %Z"),
              "machine: %s" % machine(),
              "command: %s" % " ".join(["python3", "bench/run.py"] + sys.argv[1:]),
              "rounds: %d per workload, bare runs of about %.1f s; ratios are profiled/bare, "
              "median (min..max)" % (args.rounds, args.seconds),
              "pairs: %d for the pyinstr rows the targets judge (%s), %d for the rest" % (
                  args.judge_pairs, JUDGED_TEXT, args.rounds),
              "accuracy: pyinstr at 1ms on %s also runs alone until %d samples pooled" % (
                  " and ".join(ACCURACY), args.accuracy_samples) if args.accuracy_samples
              else "accuracy: no runs of its own (--accuracy-samples 0)"]
    for name in OTHERS:
        header.append("%s: %s" % (name, "found (%s)" % bench.others[name]
                                  if bench.others.get(name) else "not installed"))
    header += notes
    if bench.baseline_why:
        header.append("baseline: " + bench.baseline_why)
    if not os.path.exists(bench.lib):
        header.append("libpyinstr.so: not built at %s: pyinstr rows are skipped" % bench.lib)
    if not bench.report_usable():
        header.append("pyinstr-report: not usable at %s: shares come from the profile files "
                      "wall_ns" % bench.report)
    progress("started; the table goes to stdout at the end")

    configs = [BARE]
    if os.path.exists(bench.lib):
        configs += PYINSTR
        if args.jitter:
            configs += JITTER
    rows, results, loads = [], [], []
    for label, python in pythons:
        for wl in workloads:
            cfgs = [c for c in configs]
            if wl.baseline and bench.baseline_lib and not args.no_baseline:
                cfgs += BASELINE
            if not wl.cost_only:
                if not args.no_cprofile:
                    cfgs.append(CPROFILE)
                cfgs += [Config(name) for name in OTHERS if bench.others.get(name)]
            others = wait_quiet(args.wait_quiet)  # before calibrating too: a busy machine skews it
            units = bench.calibrate(python, wl)
            progress("%s %s: %d units per run, %d rounds of %s" % (
                label, wl.name, units, args.rounds, ", ".join(c.key for c in cfgs)))
            runs = {c.key: [] for c in cfgs}
            others = max(others, others_busy())
            load = [loadavg()]
            for rnd in range(args.rounds):
                k = rnd % len(cfgs)
                order = cfgs[k:] + cfgs[:k]
                if rnd % 2:
                    order.reverse()
                for c in order:
                    runs[c.key].append(bench.run(c, python, wl, units))
                load.append(loadavg())
            judged = [BARE] + [c for c in PYINSTR
                               if c.interval in JUDGED.get(wl.name, ()) and c in cfgs]
            if len(judged) > 1:
                if args.judge_pairs > args.rounds:
                    progress("%s %s: %d more pairs of %s" % (label, wl.name,
                                                             args.judge_pairs - args.rounds,
                                                             ", ".join(c.key for c in judged)))
                for rnd in range(args.rounds, args.judge_pairs):
                    k = rnd % len(judged)
                    for c in judged[k:] + judged[:k]:
                        runs[c.key].append(bench.run(c, python, wl, units))
                    load.append(loadavg())
            alone = []
            acc_cfg = next((c for c in PYINSTR if c.interval == "1ms"), None)
            if wl.name in ACCURACY and acc_cfg in cfgs and args.accuracy_samples:
                have = sum(r.stacks_read for r in runs[acc_cfg.key] if r.ok)
                if have < args.accuracy_samples:
                    progress("%s %s: %s alone until %d samples (%d so far)" % (
                        label, wl.name, acc_cfg.key, args.accuracy_samples, have))
                tries = 0
                while have < args.accuracy_samples and tries < 200:
                    r = bench.run(acc_cfg, python, wl, units)
                    alone.append(r)
                    tries += 1
                    if not r.ok:
                        if sum(1 for a in alone if not a.ok) >= 3:
                            break
                        continue
                    have += r.stacks_read
                load.append(loadavg())
            busy = max(load)
            loads.append(busy)
            rows.append(bare_row(label, wl, runs[BARE.key]))
            if busy > BUSY_LOAD or others > QUIET_CORES:
                # Our own runs keep about one core busy: more means someone else is running.
                rows[-1].cells["notes"] = ("MACHINE BUSY (load %.1f, others %.1f cores before "
                                           "the rounds): figures unreliable; %s" % (
                                               busy, others, rows[-1].cells.get("notes", "")))
            rows[-1].data["busy"] = busy > BUSY_LOAD or others > QUIET_CORES
            results.append(dict(rows[-1].cells, **{"data": rows[-1].data}))
            wl_rows = {}
            for c in cfgs[1:]:
                wl_rows[c.key] = summarize(label, wl, c, list(zip(runs[BARE.key], runs[c.key])),
                                           alone if c is acc_cfg else ())
            for c in PYINSTR:
                mine, base = wl_rows.get(c.key), wl_rows.get("baseline@" + c.interval)
                if mine and base:
                    compare_with_baseline(mine, base)
            for c in cfgs[1:]:
                wl_rows[c.key].data["busy"] = busy > BUSY_LOAD or others > QUIET_CORES
                rows.append(wl_rows[c.key])
                results.append(dict(wl_rows[c.key].cells, **{"data": wl_rows[c.key].data}))
        for name in OTHERS:
            if not bench.others.get(name):
                rows.append(Row(python=label, workload="(all)", profiler=name, interval="-",
                                notes="not installed"))
    if not args.no_report:
        report_rows = report_throughput(bench, args.report_samples, "-")
        rows += report_rows
        results += [dict(r.cells, **{"data": r.data}) for r in report_rows]

    table = render(rows)
    if loads:
        header.append("load average during the workloads: %.1f..%.1f on %d cores%s" % (
            min(loads), max(loads), os.cpu_count() or 0,
            " (rows marked MACHINE BUSY ran beside other work)" if max(loads) > BUSY_LOAD
            else ""))
    lines = header + ["", table, "", "issue-4 targets:"]
    for label, _python in pythons:
        for name, verdict, detail in targets(label, rows):
            lines.append("  %-14s %-42s %-7s %s" % (label, name, verdict, detail))
    text = "\n".join(lines)
    print(text)
    out_dir = os.path.join(bench.build, "bench")
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "results.txt"), "w") as f:
        f.write(text + "\n")
    with open(os.path.join(out_dir, "results.json"), "w") as f:
        json.dump({"header": header, "rows": results}, f, indent=1)
    shutil.rmtree(bench.tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
