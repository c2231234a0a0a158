"""Signals the program owns stay its own: signal.getsignal() answers the same for every signal,
the program's own SIGPROF (ITIMER_PROF) and SIGALRM (ITIMER_REAL) handlers are called as often
as without the agent, and time.sleep lasts as long."""
import pyitest


def main():
    t = pyitest.Test(__doc__)
    bare = t.run_py("signals.py", env=t.env(profile=False))
    t.check(bare.returncode == 0, "bare run", 0, bare.returncode)
    t.check("too few" not in bare.out and "too many" not in bare.out,
            "the workload's own checks hold without the agent",
            "about 40 calls each", bare.out[-300:])
    r = t.run_py("signals.py", env=t.env(PYINSTR_QUIET=1))
    t.check(r.returncode == 0, "profiled run", 0, r.returncode)
    a, b = bare.out.splitlines(), r.out.splitlines()
    diff = [(x, y) for x, y in zip(a, b) if x != y]
    t.check(not diff and len(a) == len(b), "the program observes the same signals",
            "identical output (%d lines)" % len(a), "differences (bare, profiled): %s" % diff)
    t.check(r.stderr == bare.stderr, "stderr unchanged", repr(bare.err), repr(r.err))
    p = pyitest.read_profile(t.only_profile())
    t.check(p.complete, "the profile is complete", "complete", p.describe())
    t.passed()


main()
