"""torture: a program that does everything at once (threads born and dying without pause,
threads made from C, recursion near a limit of 5000, exceptions through thousands of frames,
asyncio with hundreds of tasks, generator chains, fresh code objects compiled and freed in a
loop, its own SIGALRM timer, fork children that leave with os._exit, threads asleep and
waiting on locks, a daemon thread spinning at exit), sampled every 100 us, behaves exactly as
without the agent: same stdout, same stderr apart from the agent's exit lines, same exit
status, no crash, no hang. Every process writes a complete profile (END record, no truncated
tail) that pyinstr-report reads, as text and as collapsed stacks."""
import json
import os
import signal
import subprocess
import time

import pyitest

SECONDS = 2.5
# The workload takes SECONDS plus about half a second; a run that takes this long has hung.
TIME_LIMIT = 30
# What a run at 100 us must at least have taken from the parent: a profile with fewer samples
# means the sampler was not really running, and the rest of the test would prove nothing.
MIN_PARENT_SAMPLES = 2000
# Functions of the workload that run all the time on some thread.
EVERYWHERE = ("recurse", "raise_deep", "thread_churn", "task_body", "relay", "fresh_code",
              "thrower", "main_thread_rounds")


def run_group(t, argv, env):
    """t.run(), but the program gets a process group of its own, and a time-out kills the
    whole group: a fork child that hangs holds the stdout pipe open, and killing its parent
    alone would leave the test waiting for the pipe to close."""
    shown = " ".join("%s=%s" % (k, env[k]) for k in sorted(env)
                     if k.startswith("PYINSTR_") or k == "LD_PRELOAD")
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, env=env, cwd=t.tmp, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    timed_out = False
    try:
        out, err = proc.communicate(timeout=TIME_LIMIT)
    except subprocess.TimeoutExpired:
        timed_out = True
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # and any child it left behind
    except OSError:
        pass
    if timed_out:
        out, err = proc.communicate()
    r = pyitest.Run(argv, "timeout" if timed_out else proc.returncode, out, err,
                    time.monotonic() - t0, proc.pid, shown + " " if shown else "")
    t.note(r.describe())
    if timed_out:
        t.fail("%s did not finish within %d s (a hang)" % (" ".join(argv), TIME_LIMIT))
    return r


def read_facts(t, path, run):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        t.fail("the workload writes its facts file", path, "%s; %s" % (e, run.describe()))


class Stacks:
    """The collapsed report, read cheaply: the parent's stacks are thousands of frames deep
    (recursion at 4900 against the default depth cap of 2048), which pyitest.Collapsed
    would turn into millions of Frame objects."""

    def __init__(self, text):
        self.lines = []  # (";"-joined frames with a leading ";", microseconds)
        self.bad_lines = []
        for line in text.splitlines():
            stack, sep, n = line.rpartition(" ")
            if not sep or not stack or not n.isdigit():
                self.bad_lines.append(line)
            else:
                self.lines.append((";" + stack, int(n)))
        self.total = sum(n for _, n in self.lines)

    def inclusive(self, name):
        """Microseconds in stacks with a frame whose qualname is name (a module-level
        function)."""
        needle = ";%s (" % name
        return sum(n for stack, n in self.lines if needle in stack)

    def summary(self, names):
        return ", ".join("%s %d" % (name, self.inclusive(name)) for name in names)


def check_readable(t, path, p):
    """pyinstr-report reads the file as text and as collapsed stacks; returns the latter."""
    name = os.path.basename(path)
    r = t.report(path)
    t.note("--- pyinstr-report %s (exit %s)\n%s\n%s" % (path, r.returncode,
                                                         pyitest.clip(r.out, 3000),
                                                         pyitest.clip(r.err)))
    t.note("--- profile file: " + p.describe())
    t.check(r.returncode == 0, "pyinstr-report %s succeeds" % name, "exit status 0",
            "exit status %s, stderr %r" % (r.returncode, r.err))
    t.check(r.out.strip() != "", "pyinstr-report %s prints a report" % name, "some text",
            repr(r.out[:200]))
    r = t.report(path, "--format", "collapsed")
    t.check(r.returncode == 0, "pyinstr-report --format collapsed %s succeeds" % name,
            "exit status 0", "exit status %s, stderr %r" % (r.returncode, r.err))
    c = Stacks(r.out)
    t.check(not c.bad_lines, "every collapsed line of %s is `frames COUNT`" % name,
            "no malformed lines", [pyitest.clip(l, 300) for l in c.bad_lines[:3]])
    # No thread can have used more CPU than the machine's CPUs had in the session (a thread
    # that exits between two reads of its clock once left a garbage CPU figure behind).
    most_cpu = (os.cpu_count() or 1) * (p.last_sample_ns + 10 ** 9)
    t.check(p.cpu_ns <= most_cpu, "%s: the CPU time in the samples is possible" % name,
            "<= %.1f s (every CPU for the whole session)" % (most_cpu / 1e9),
            "%.1f s" % (p.cpu_ns / 1e9))
    # Samples without a Python frame (a native thread, a thread before its first call) have
    # no collapsed line; each line's microseconds are rounded.
    most = p.wall_ns // 1000 + len(c.lines)
    t.check(c.total <= most, "the collapsed report of %s has no more time than the file" % name,
            "<= %d us" % most, c.total)
    return c


def main():
    t = pyitest.Test(__doc__)
    args = [str(SECONDS)]

    bare_facts = t.path("bare-facts.json")
    workload = [t.python, t.workload("torture.py")] + args
    bare = run_group(t, workload + [bare_facts], t.env(profile=False))
    t.check(bare.returncode == 0 and bare.out.endswith("done\n"),
            "without the agent the workload runs and its own checks pass",
            "exit 0, every part ok, then 'done'", "exit %s\n%s" % (bare.returncode, bare.out))
    read_facts(t, bare_facts, bare)

    out = t.subdir("profiles")
    facts_path = t.path("facts.json")
    prof = run_group(t, workload + [facts_path], t.env(outdir=out, PYINSTR_INTERVAL="100us"))
    t.check(prof.returncode == bare.returncode, "the exit status is the same as without the agent",
            bare.returncode, prof.returncode)
    t.check(prof.out == bare.out, "stdout is the same as without the agent", repr(bare.out),
            repr(prof.out))
    own_err = [l for l in prof.err.splitlines() if not l.startswith("pyinstr:")]
    t.check(own_err == bare.err.splitlines(),
            "stderr is the program's own (the same as without the agent) plus the exit lines",
            repr(bare.err), repr(prof.err))
    facts = read_facts(t, facts_path, prof)
    parent, children = facts["pid"], facts["children"]

    files = t.profiles(out)
    t.check(len(files) == len(os.listdir(out)), "every file written is a profile",
            sorted(os.listdir(out)), [os.path.basename(f) for f in files])
    by_pid = {}
    for path in files:
        p = pyitest.read_profile(path)
        t.check(p.pid not in by_pid, "one file per process", "pid %s once" % p.pid,
                "%s and %s" % (by_pid.get(p.pid, ("",))[0], path))
        by_pid[p.pid] = (path, p)
    t.check(parent in by_pid, "the parent writes its profile", "a file with pid %d" % parent,
            sorted(by_pid))
    strays = sorted(set(by_pid) - {parent} - set(children))
    t.check(not strays, "every profile belongs to the parent or one of its fork children",
            "pids %d and %s" % (parent, children), strays)
    exit_lines = [l for l in prof.err.splitlines() if l.startswith("pyinstr:")]
    t.check(len(exit_lines) == len(files), "each process that wrote a file says so once",
            "%d exit lines" % len(files), exit_lines[:5])
    # A fork child opens its file once it has samples; each works for about 30 ms at 100 us.
    # Under load a few may be done before their sampler's first tick; most must not.
    t.check(len(by_pid) - 1 >= len(children) / 2, "most fork children write a profile",
            ">= %d of %d children" % ((len(children) + 1) // 2, len(children)),
            len(by_pid) - 1)

    for pid, (path, p) in sorted(by_pid.items()):
        want = pyitest.END_EXIT if pid == parent else pyitest.END_UNDERSCORE_EXIT
        t.check(p.complete and p.end_reason == want and p.ends == 1,
                "the profile of %s %d is complete" % ("parent" if pid == parent else "child",
                                                       pid),
                "one END (%s), no truncated tail, no error" % pyitest.END_NAMES[want],
                p.describe())
        t.check(p.counters, "the profile of %d has a COUNTERS record" % pid, "counters",
                p.describe())
        c = check_readable(t, path, p)
        if pid == parent:
            parent_collapsed = c
        else:
            t.check(c.inclusive("child_work") > 0 or c.inclusive("fork_one") > 0,
                    "child %d's samples are in the child's work" % pid,
                    "child_work (or fork_one, just after the fork)", c.summary(["child_work"]))

    path, p = by_pid[parent]
    c = parent_collapsed
    t.check(p.samples >= MIN_PARENT_SAMPLES and c.total >= 1000 * MIN_PARENT_SAMPLES,
            "the parent was really sampled",
            ">= %d samples, >= %d ms in the report" % (MIN_PARENT_SAMPLES, MIN_PARENT_SAMPLES),
            "%d in the file, %d us in the report: %s" % (p.samples, c.total, p.describe()))
    missing = [n for n in EVERYWHERE if c.inclusive(n) == 0]
    t.check(not missing, "the functions that run all the time appear in the parent's profile",
            "samples in each of %s" % (EVERYWHERE,), "none in %s: %s" % (missing,
                                                                          c.summary(EVERYWHERE)))
    t.check(len(p.threads) >= 20, "the short-lived threads are in the parent's profile",
            ">= 20 THREAD records (%d threads were started)" % facts.get("short_threads", 0),
            len(p.threads))

    counters = ", ".join("%s=%d" % kv for kv in sorted(p.counters.items()))
    child_samples = sum(q.samples for pid, (_, q) in by_pid.items() if pid != parent)
    note = ("parent %d samples, %d threads; %d of %d fork children wrote %d samples; "
            "bare %.1fs, profiled %.1fs; workload %s; parent COUNTERS: %s" % (
                p.samples, len(p.threads), len(by_pid) - 1, len(children), child_samples,
                bare.seconds, prof.seconds,
                ", ".join("%s=%s" % (k, v) for k, v in sorted(facts.items())
                          if k not in ("pid", "children")), counters))
    print(note)
    t.passed()


main()
