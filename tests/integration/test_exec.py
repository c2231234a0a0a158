"""exec: a Python that replaces itself with another Python leaves two complete profiles (the
first ends with reason exec), one that execs a non-Python program leaves one, and a Python
child started with subprocess writes its own file beside its parent's."""
import os

import pyitest


def by_function(t, files, name):
    hits = [f for f in files if pyitest.read_profile(f).has_code(name)]
    t.check(len(hits) == 1, "exactly one profile has %s" % name, 1,
            "%d of %s" % (len(hits), [pyitest.read_profile(f).describe() for f in files]))
    return hits[0]


def main():
    t = pyitest.Test(__doc__)

    # Python -> Python: same pid, two files, none clobbered.
    out = t.subdir("py")
    r = t.run_py("exec_first.py", env=t.env(outdir=out, PYINSTR_QUIET=1))
    t.check(r.returncode == 0 and "second" in r.out, "the workload runs and execs",
            "exit 0, 'second PID'", "exit %s, %r" % (r.returncode, r.out))
    found = t.profiles(out)
    t.check(len(found) == 2, "the exec'd Python writes its own file", 2,
            "%d: %s" % (len(found), os.listdir(out)))
    first = by_function(t, found, "exec_before")
    second = by_function(t, found, "exec_after")
    p1, p2 = pyitest.read_profile(first), pyitest.read_profile(second)
    t.check(p1.complete and p1.end_reason == pyitest.END_EXEC,
            "the first file is complete and ends with reason exec", "END exec", p1.describe())
    t.check(p2.complete and p2.end_reason == pyitest.END_EXIT, "the second file is complete",
            "END exit", p2.describe())
    t.check(p1.pid == p2.pid == r.pid, "both carry the same pid (exec keeps it)", r.pid,
            (p1.pid, p2.pid))
    c1, c2 = t.collapsed(first), t.collapsed(second)
    t.check(c1.inclusive("exec_before") >= 30 and c1.inclusive("exec_after") == 0,
            "the first file has the first program's work only", "exec_before only",
            c1.summary(["exec_before", "exec_after"]))
    t.check(c2.inclusive("exec_after") >= 30 and c2.inclusive("exec_before") == 0,
            "the second file has the second program's work only", "exec_after only",
            c2.summary(["exec_before", "exec_after"]))

    # Python -> non-Python: one complete file, the program's output intact.
    out = t.subdir("echo")
    r = t.run_py("exec_first.py", "/bin/echo", "echoed", env=t.env(outdir=out, PYINSTR_QUIET=1))
    t.check(r.returncode == 0 and r.out.endswith("echoed\n") and r.err == "",
            "exec of echo prints its line and nothing else", "'echoed', empty stderr",
            "exit %s, %r, %r" % (r.returncode, r.out, r.err))
    prof = t.only_profile(out)
    p = pyitest.read_profile(prof)
    t.check(p.complete and p.end_reason == pyitest.END_EXEC,
            "the Python's file is complete and ends with reason exec", "END exec", p.describe())

    # subprocess: the child Python writes its own file.
    out = t.subdir("spawn")
    r = t.run_py("spawn_parent.py", env=t.env(outdir=out, PYINSTR_QUIET=1))
    t.check(r.returncode == 0 and "child status 0" in r.out, "the workload runs", "exit 0",
            "exit %s, %r" % (r.returncode, r.out))
    found = t.profiles(out)
    t.check(len(found) == 2, "parent and child each write a file", 2,
            "%d: %s" % (len(found), os.listdir(out)))
    for name in ("spawn_parent_work", "spawn_child_work"):
        f = by_function(t, found, name)
        p = pyitest.read_profile(f)
        t.check(p.complete and t.collapsed(f).inclusive(name) >= 30,
                "the file with %s is complete and has its samples" % name, ">= 30 samples",
                p.describe())
    t.passed()


main()
