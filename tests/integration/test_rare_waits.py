"""A thread that computes and, every 0.8 s, waits 2.5 ms where no look sees it (rare_waits.py)
does not keep the sampler looking every millisecond: its busiest thread wakes less than 200
times a second. Nor when it also shares its CPU with another process's bursts (hog.py: 6 ms
every 300 ms), which take it off the CPU, preempted, where no look sees it either. Nor on one
CPU, where the sampler's own wake-ups take the CPU from the program at every look.

Time off the CPU that no look saw goes to the stack that runs after it, and stretches of it
that keep coming cap the sampler's period (test_naps). These add up to under half a percent of
the run, which is all they can move: they no longer cap it. When any two within 2 s did, the
sampler woke about 340 times a second here (idle50's busy thread, waiting now and then a
little over 2 ms for the GIL, kept it at 1 ms the same way). Time preempted is no wait of the
program's: counted as one, the hog's bursts with the naps woke the sampler 230-420 times a
second, as a busy CI host once did (295). On one CPU, a thread preempted by the sampler looked
like one gone off the CPU, so its stack was read from the sampler (the looks' blocked_walks)
and the looks kept at their shortest: 997 wake-ups a second, 1,830 such reads in fib.py's 2 s.
Runs alone: a busy thread on a machine busy with
other tests waits for a CPU, and is then sampled by the sampler's signals."""
# pyitest: exclusive
import os
import subprocess
import sys
import time

import pyitest

MOST = 200
SECONDS = 2.4


def wakeups(t, name, *args):
    """Runs rare_waits.py in directory name; checks the wake-up rate and that the computing is
    sampled. Returns the rate and the profile's counters."""
    d = t.subdir(name)
    r = t.run_py("rare_waits.py", str(SECONDS), *args, env=t.env(outdir=d, PYINSTR_QUIET=1))
    rate = pyitest.agent_wakeups(t, r)
    path = t.only_profile(d)
    counters = pyitest.read_profile(path).counters
    caps = dict((k, counters.get(k)) for k in ("period_caps", "preempted_unseen", "contended",
                                               "blocked_walks"))
    t.check(rate < MOST, "%s: the agent's busiest thread wakes up less than %d times a second"
            % (name, MOST), "< %d/s" % MOST, "%d/s (counters %s)" % (rate, caps))
    c = t.collapsed(path)
    t.check(c.inclusive("compute", "rare_waits.py") >= 0.9 * c.total,
            "%s: the computing is sampled" % name, ">= 90% of the profile",
            "%.0f of %.0f ms" % (c.inclusive("compute", "rare_waits.py"), c.total))
    return rate, counters


def main():
    t = pyitest.Test(__doc__)
    alone, _ = wakeups(t, "alone")
    cpus = sorted(os.sched_getaffinity(0))
    one, counters = wakeups(t, "one-cpu", str(cpus[-1]), "all")
    # The naps, each read once where it waits, and the odd look that finds the thread blocked
    # on its way to the GIL or a page: tens at most, against one per look before.
    walks = counters.get("blocked_walks", 0)
    t.check(walks < 50, "one-cpu: the sampler reads the busy thread's stack itself only where "
            "it waits", "< 50 reads", "%d" % walks)
    if len(cpus) < 2:
        t.passed("agent wake-ups %d/s alone, %d/s on one CPU; the shared-CPU run SKIPPED: it "
                 "needs two CPUs, this machine gives one" % (alone, one))
    # The hog starts up first, so that its own start-up is not the program's.
    hog = subprocess.Popen([sys.executable, t.workload("hog.py"), str(cpus[-1]),
                            str(SECONDS + 1.5)], env=pyitest.clean_environ())
    try:
        time.sleep(0.3)
        shared, _ = wakeups(t, "shared", str(cpus[-1]))
    finally:
        hog.kill()
        hog.wait()
    t.passed("agent wake-ups %d/s alone, %d/s on one CPU (%d stack reads), %d/s sharing a CPU"
             % (alone, one, walks, shared))


main()
