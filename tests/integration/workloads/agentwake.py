"""How often the agent's threads wake: each thread of the process that is not the program's own
(the agent's) has its voluntary switches counted over a stretch of the run, per second.
Shared by the workloads that test how often the sampler looks."""
import os
import time


def voluntary_switches(tid):
    try:
        with open("/proc/self/task/%d/status" % tid) as f:
            for line in f:
                if line.startswith("voluntary_ctxt_switches:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def others(own):
    return [int(t) for t in os.listdir("/proc/self/task") if int(t) not in own]


class Counting:
    """Counts from construction to stop(): own is the set of the program's native thread ids."""

    def __init__(self, own):
        self.own = own
        self.before = dict((tid, voluntary_switches(tid)) for tid in others(own))
        self.t0 = time.perf_counter()

    def stop(self):
        elapsed = time.perf_counter() - self.t0
        after = dict((tid, voluntary_switches(tid)) for tid in others(self.own))
        rates = [(after[t] - self.before[t]) / elapsed for t in after
                 if t in self.before and after[t] is not None and self.before[t] is not None]
        return "AGENT-WAKEUPS max=%d (%d threads)" % (max(rates) if rates else 0, len(rates))
