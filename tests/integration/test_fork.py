"""fork: the child writes its own complete profile with its own work and the parent's is
unaffected. With PYINSTR_OUTPUT containing %p each process gets its file; with a fixed path the
child never overwrites the parent's file."""
import os

import pyitest


def pids(t, r):
    parent = child = None
    for line in r.out.splitlines():
        if line.startswith("parent "):
            parent = int(line.split()[1])
        elif line.startswith("child ") and line.split()[1].isdigit():
            child = int(line.split()[1])
    t.check(parent and child, "the workload prints both pids", "parent N / child N", r.out)
    return parent, child


def check_parent(t, path, parent):
    p = pyitest.read_profile(path)
    t.check(p.pid == parent, "the parent's profile carries the parent's pid", parent, p.pid)
    t.check(p.complete and p.end_reason == pyitest.END_EXIT, "the parent's profile is complete",
            "END (exit), no truncated tail", p.describe())
    c = t.collapsed(path)
    for name in ("parent_before_fork", "parent_after_fork"):
        t.check(c.inclusive(name, "fork.py") >= 30, "the parent's profile has %s" % name,
                ">= 30 samples (0.3 s or more of work)", "%d: %s" % (
                    c.inclusive(name, "fork.py"), c.summary([name])))
    t.check(c.inclusive("child_work") == 0, "the parent's profile has none of the child's work",
            "0 samples in child_work", c.inclusive("child_work"))
    return c


def main():
    t = pyitest.Test(__doc__)

    # %p: one file each.
    out = t.subdir("pattern")
    r = t.run_py("fork.py", env=t.env(outdir=out))
    t.check(r.returncode == 0 and "child status 0" in r.out, "the workload runs",
            "exit 0 and the child exits 0", "exit %s" % r.returncode)
    parent, child = pids(t, r)
    found = t.profiles(out)
    t.check(len(found) == 2, "parent and child each write one file", 2,
            "%d: %s" % (len(found), os.listdir(out)))
    by_pid = dict((pyitest.read_profile(f).pid, f) for f in found)
    t.check(set(by_pid) == {parent, child}, "one file carries each pid", {parent, child},
            set(by_pid))
    check_parent(t, by_pid[parent], parent)
    pc = pyitest.read_profile(by_pid[child])
    t.check(pc.complete and pc.end_reason == pyitest.END_EXIT, "the child's profile is complete",
            "END (exit), no truncated tail", pc.describe())
    t.check(pc.info.get("fork_of") == str(parent), "the child's profile names its parent",
            "fork_of %d" % parent, pc.info.get("fork_of"))
    cc = t.collapsed(by_pid[child])
    t.check(cc.inclusive("child_work", "fork.py") >= 30, "the child's profile has its work",
            ">= 30 samples in child_work (0.5 s)", "%d: %s" % (
                cc.inclusive("child_work", "fork.py"), cc.summary(["child_work"])))
    for name in ("parent_before_fork", "parent_after_fork"):
        t.check(cc.inclusive(name) == 0, "the child's profile has none of the parent's work",
                "0 samples in %s" % name, cc.summary([name]))
    lines = [l for l in r.err.splitlines() if l.startswith("pyinstr:")]
    t.check(len(lines) == 2, "each process prints its exit line", 2, lines)
    pattern_run = r

    # A fixed path: the parent's file stays the parent's.
    out = t.subdir("fixed")
    fixed = os.path.join(out, "fixed.prof")
    r = t.run_py("fork.py", env=t.env(PYINSTR_OUTPUT=fixed))
    t.check(r.returncode == 0 and "child status 0" in r.out, "the workload runs",
            "exit 0 and the child exits 0", "exit %s" % r.returncode)
    parent, child = pids(t, r)
    t.check(os.path.exists(fixed), "the fixed path is written", fixed, os.listdir(out))
    check_parent(t, fixed, parent)
    others = [f for f in t.profiles(out) if f != fixed]
    for f in others:
        p = pyitest.read_profile(f)
        t.check(p.pid == child and p.complete, "any other file is the child's, complete",
                "pid %d, END" % child, p.describe())

    # Last, so that a failure here does not hide the checks above: CPython 3.12+ warns in
    # os.fork() ("This process is multi-threaded, use of fork() may lead to deadlocks") when
    # /proc/self/stat counts more than one thread, and the warning is shown because fork.py
    # calls os.fork from __main__. The agent's own threads must not make a program print what
    # it did not print before.
    bare = t.run_py("fork.py", env=t.env(profile=False))
    rest = [l for l in pattern_run.err.splitlines() if not l.startswith("pyinstr:")]
    t.check(rest == bare.err.splitlines(),
            "stderr is the program's own plus the exit lines (no fork-with-threads warning)",
            repr(bare.err), repr(pattern_run.err))
    t.passed("with a fixed path the child wrote %s" % ([os.path.basename(f) for f in others]
                                                       or "nothing"))


main()
