"""At PYINSTR_INTERVAL=100us, threads that keep coming and going off the CPU do not make the
agent wake up ten thousand times a second: its sampler looks at most every millisecond. And
threads that wake and wait again where they waited before do not keep it looking that often.

Each look wakes the sampler, and a wake-up costs tens of microseconds on a virtual machine:
looking every 100 us at the bench's threads4 took a third of a CPU (8,400 wake-ups a second)
and, preempting the program's threads, made them look contended. The workload counts how often
each thread that is not its own was switched out voluntarily during one second; the busiest
(the sampler) must stay under 2,000 a second (about 1,000 looks and its other waits).

Twenty threads napping 5 ms at a time in one place (nappers.py, at the default 1 ms) change
nothing between looks: the sampler's period grows, and its busiest thread must wake less than
200 times a second (it woke about 530 times when each of their wakings counted as a change).
Their time must still be all theirs: 20 times the main thread's, in nap()."""
import pyitest

MOST = 2000
MOST_NAPPING = 200
NAPPERS = 20


def main():
    t = pyitest.Test(__doc__)
    r = t.run_py("handoff.py", "1.0", env=t.env(PYINSTR_QUIET=1, PYINSTR_INTERVAL="100us"))
    rate = pyitest.agent_wakeups(t, r)
    t.check(rate < MOST, "the agent's busiest thread wakes up less than %d times a second" % MOST,
            "< %d/s" % MOST, "%d/s" % rate)
    c = t.collapsed(t.only_profile())
    t.check(c.inclusive("player", "handoff.py") > 0, "the players are sampled", "> 0",
            c.total)

    out = t.subdir("nappers")
    r = t.run_py("nappers.py", "1.0", env=t.env(outdir=out, PYINSTR_QUIET=1))
    napping = pyitest.agent_wakeups(t, r)
    t.check(napping < MOST_NAPPING, "beside threads that nap in one place, the agent's busiest "
            "thread wakes up less than %d times a second" % MOST_NAPPING,
            "< %d/s" % MOST_NAPPING, "%d/s" % napping)
    c = t.collapsed(t.only_profile(out))
    main_ms = c.inclusive("hold", "nappers.py")
    napper_ms, nap_ms = c.inclusive("napper", "nappers.py"), c.inclusive("nap", "nappers.py")
    t.check(0.9 * NAPPERS * main_ms <= napper_ms <= 1.1 * NAPPERS * main_ms,
            "the nappers have %d times the main thread's time in hold(), within 10%%" % NAPPERS,
            "%.0f..%.0f ms" % (0.9 * NAPPERS * main_ms, 1.1 * NAPPERS * main_ms),
            "%.0f ms" % napper_ms)
    t.check(nap_ms >= 0.95 * napper_ms, "the nappers' time is in nap()", ">= 95%",
            "%.1f%%" % (100.0 * nap_ms / napper_ms if napper_ms else 0))
    t.passed("agent wake-ups %d/s, beside nappers %d/s" % (rate, napping))


main()
