"""A thread that computes and, every 0.8 s, waits 2.5 ms where no look sees it (rare_waits.py)
does not keep the sampler looking every millisecond: its busiest thread wakes less than 200
times a second.

Time off the CPU that no look saw goes to the stack that runs after it, and stretches of it
that keep coming cap the sampler's period (test_naps). These add up to under half a percent of
the run, which is all they can move: they no longer cap it. When any two within 2 s did, the
sampler woke about 340 times a second here (idle50's busy thread, waiting now and then a
little over 2 ms for the GIL, kept it at 1 ms the same way). Runs alone: a busy thread on a
machine busy with other tests waits for a CPU, and is then sampled by the sampler's signals."""
# pyitest: exclusive
import pyitest

MOST = 200


def main():
    t = pyitest.Test(__doc__)
    r = t.run_py("rare_waits.py", "2.4", env=t.env(PYINSTR_QUIET=1))
    rate = pyitest.agent_wakeups(t, r)
    t.check(rate < MOST, "the agent's busiest thread wakes up less than %d times a second" % MOST,
            "< %d/s" % MOST, "%d/s" % rate)
    c = t.collapsed(t.only_profile())
    t.check(c.inclusive("compute", "rare_waits.py") >= 0.9 * c.total,
            "the computing is sampled", ">= 90% of the profile",
            "%.0f of %.0f ms" % (c.inclusive("compute", "rare_waits.py"), c.total))
    t.passed("agent wake-ups %d/s" % rate)


main()
