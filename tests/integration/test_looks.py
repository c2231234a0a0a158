"""At PYINSTR_INTERVAL=100us, threads that keep coming and going off the CPU do not make the
agent wake up ten thousand times a second: its sampler looks at most every millisecond.

Each look wakes the sampler, and a wake-up costs tens of microseconds on a virtual machine:
looking every 100 us at the bench's threads4 took a third of a CPU (8,400 wake-ups a second)
and, preempting the program's threads, made them look contended. The workload counts how often
each thread that is not its own was switched out voluntarily during one second; the busiest
(the sampler) must stay under 2,000 a second (about 1,000 looks and its other waits)."""
import re

import pyitest

MOST = 2000


def main():
    t = pyitest.Test(__doc__)
    r = t.run_py("handoff.py", "1.0", env=t.env(PYINSTR_QUIET=1, PYINSTR_INTERVAL="100us"))
    m = re.search(r"AGENT-WAKEUPS max=(\d+) \((\d+) threads\)", r.out)
    t.check(r.returncode == 0 and m is not None, "the workload runs",
            "exit 0 and an AGENT-WAKEUPS line", "exit %s, %r" % (r.returncode, r.out))
    rate, threads = int(m.group(1)), int(m.group(2))
    t.check(threads >= 2, "the agent's threads are found beside the program's", ">= 2", threads)
    t.check(rate < MOST, "the agent's busiest thread wakes up less than %d times a second" % MOST,
            "< %d/s" % MOST, "%d/s" % rate)
    c = t.collapsed(t.only_profile())
    t.check(c.inclusive("player", "handoff.py") > 0, "the players are sampled", "> 0",
            c.total)
    t.passed("agent wake-ups %d/s" % rate)


main()
