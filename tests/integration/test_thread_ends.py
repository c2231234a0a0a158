"""Threads that start and end while the session runs keep all their time. Ten threads that
each compute for 60 ms, one after another, each read their own CPU time within -1..+3 ms, and
the function they compute in reads the sum of their CPU time within 3% (wall -3..+6%), at
1 ms and at 10 ms. Twenty threads of 20 ms each are each in the profile with their CPU time
within the same margin, or counted in the file as unseen with that CPU time: none is lost
silently.

A thread is seen by the sampler's listings, 10 ms apart or more, and its CPU clock at its looks,
up to 20 ms apart; once it has exited its clock is gone. Before the agent credited a new
thread's CPU from before its registration, and the thread's own last time as it ended, the
60 ms threads read 40 to 58 ms each, 75% of their work in all, and a fifth of the 20 ms ones
were not in the profile at all. A thread's CPU is what its clock says however busy the
machine, so the margins are its start and end outside the measured function (0.1-0.3 ms
here). The wall margin is wider below: time a new thread waited before its registration (for
the GIL, or for a CPU on a busy machine) is not known.

A 20 ms thread is sampled at most twice or three times by events (8 ms of CPU apart on
average), and its time goes to the stacks it was sampled in; one with no sample at all, its
stack never read, has nowhere for its time to go, and is counted instead."""
# pyitest: exclusive
import pyitest

CPU_LOW, CPU_HIGH = -1.0, 3.0  # ms, each thread
SHARE = 0.03                   # of the truth, CPU in the function
WALL_LOW, WALL_HIGH = -0.03, 0.06


def run(t, interval, count, ms):
    label = "%d threads of %d ms at %s" % (count, ms, interval)
    out = t.subdir("%s-%d-%d" % (interval, count, ms))
    env = t.env(outdir=out, PYINSTR_QUIET=1, PYINSTR_INTERVAL=interval)
    r = t.run([t.python, "-S", t.workload("thread_starts.py"), str(count), str(ms)], env=env)
    t.check(r.returncode == 0 and r.out.startswith("TRUTH"), "the workload runs",
            "exit status 0 and a TRUTH line", "%s, %r" % (r.returncode, r.out))
    truth = dict(kv.split("=") for kv in r.out.split()[1:])
    prof = t.only_profile(out)
    p = pyitest.read_profile(prof)
    each = float(truth["cpu"]) / count
    workers = [tid for tid, (native, _) in p.threads.items() if native != p.pid]
    cpus = [p.thread_cpu_ns.get(tid, 0) / 1e6 for tid in workers]
    unseen = p.counters.get("threads_unseen", 0)
    unseen_ms = p.counters.get("threads_unseen_cpu_ns", 0) / 1e6
    if unseen:
        cpus.append(unseen_ms / unseen)
    t.check(len(workers) + unseen == count,
            "%s: each is in the profile or counted as unseen" % label,
            "%d" % count, "%d in the profile, %d unseen" % (len(workers), unseen))
    t.check(CPU_LOW <= min(cpus) - each and max(cpus) - each <= CPU_HIGH,
            "%s: each thread's CPU time is all there" % label,
            "%.1f ms each (its own measure) %+.0f..%+.0f" % (each, CPU_LOW, CPU_HIGH),
            "%.1f..%.1f ms (unseen: %d, %.1f ms)" % (min(cpus), max(cpus), unseen, unseen_ms))
    return label, truth, prof, unseen


def main():
    t = pyitest.Test(__doc__)
    seen = []
    for interval in ("1ms", "10ms"):
        label, truth, prof, unseen = run(t, interval, 10, 60)
        t.check(unseen == 0, "%s: every thread is seen" % label, "0 unseen", unseen)
        for metric, low, high in (("cpu", -SHARE, SHARE), ("wall", WALL_LOW, WALL_HIGH)):
            got = t.collapsed(prof, metric=metric).inclusive("burn", "thread_starts.py")
            want = float(truth[metric])
            t.check(want * (1 + low) <= got <= want * (1 + high),
                    "%s: the function's %s time is all there" % (label, metric),
                    "%.1f ms (its own measure) %+.0f%%..%+.0f%%" %
                    (want, 100 * low, 100 * high),
                    "%.1f ms (%+.1f%%)" % (got, 100 * (got / want - 1)))
            seen.append("%s %s %+.1f%%" % (label, metric, 100 * (got / want - 1)))
        label, truth, prof, unseen = run(t, interval, 20, 20)
        seen.append("%s: %d unseen" % (label, unseen))
    t.passed("; ".join(seen))


main()
