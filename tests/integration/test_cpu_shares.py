"""With --metric cpu, four threads doing 1:2:3:4 units of CPU work are reported within 3
points of their true CPU shares (each thread's own time.thread_time(), printed by the
workload). Units of 0.3 s: a running thread is sampled about once per kernel tick (every
4 ms at 250 Hz), so 3 s of CPU make some 750 samples, and the smallest share about 75."""
import re

import pyitest

WORKERS = ["work_one", "work_two", "work_three", "work_four"]


def main():
    t = pyitest.Test(__doc__)
    r = t.run_py("cpu_shares.py", "0.3", env=t.env(PYINSTR_QUIET=1))
    t.check(r.returncode == 0, "the workload runs", "exit 0", "exit %s" % r.returncode)
    truth = {}
    for line in r.out.splitlines():
        name, seconds = line.split()[1:3]
        truth[name] = float(seconds)
    t.check(sorted(truth) == sorted(WORKERS), "the workload prints its truth", WORKERS, truth)
    prof = t.only_profile()
    rep = t.report(prof, "--metric", "cpu", "--flat", "--merge-threads", "--min-percent", "0")
    seen = {}
    for line in rep.out.splitlines():
        m = re.match(r"\s*\S+\s+\S+%\s+([0-9.]+)\s+\S+%\s+(work_\w+)\s", line)
        if m:
            seen[m.group(2)] = float(m.group(1))
    t.check(sorted(seen) == sorted(WORKERS), "the report shows each worker's CPU time",
            WORKERS, rep.out)
    total_truth = sum(truth.values())
    total_seen = sum(seen.values()) or 1.0
    for w in WORKERS:
        want = 100.0 * truth[w] / total_truth
        got = 100.0 * seen[w] / total_seen
        t.check(abs(got - want) <= 3.0, "%s's CPU share within 3 points" % w,
                "%.1f%% +- 3" % want, "%.1f%% (report %s, truth %s)" % (got, seen, truth))
    t.passed("cpu shares %s" % ", ".join("%s %.1f%%" % (w, 100.0 * seen[w] / total_seen)
                                        for w in WORKERS))


main()
