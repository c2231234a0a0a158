"""A thread that blocks every signal and takes real-time signals with sigtimedwait() receives
none of the profiler's: its timer goes once it has run 100 ms of CPU without a sample, and is
counted (signals_late); the program prints the same as without the agent."""
import pyitest


def main():
    t = pyitest.Test(__doc__)
    bare = t.run_py("sigwait.py", env=t.env(profile=False))
    t.check(bare.returncode == 0, "bare run", 0, bare.returncode)
    if "kernel keeps" in bare.out:
        t.skip("this kernel delivers the pending signal of a deleted POSIX timer (the agent "
               "cannot take back a signal it has queued): %s" % bare.out.strip())
    t.check(bare.out.strip() == "sigwait got: []", "without the agent the thread gets nothing",
            "sigwait got: []", bare.out.strip())
    r = t.run_py("sigwait.py", env=t.env(PYINSTR_QUIET=1))
    t.check(r.returncode == 0, "profiled run", 0, r.returncode)
    p = pyitest.read_profile(t.only_profile())
    t.check(r.out == bare.out, "the thread receives none of the profiler's signals",
            repr(bare.out), "%r (%s)" % (r.out, p.describe()))
    if p.counters.get("contended", 0) == 0:
        t.check(p.counters.get("signals_late", 0) >= 1, "the blocking thread is counted",
                "signals_late >= 1", p.describe())
    t.passed()


main()
