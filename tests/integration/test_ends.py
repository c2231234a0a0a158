"""The program's last work keeps its time when the interpreter finalizes right after it, at
long intervals too: a 1-second loop that ends the program reads within 60 ms of its own wall
and CPU time, in each of three runs at PYINSTR_INTERVAL=500ms, at 50ms, and at 500ms with
PYINSTR_JITTER=1 (samples sent by the sampler at random times).

At 500 ms, events sample a running thread 250 to 750 ms of CPU apart, so the signal after the
loop's last sample comes in finalization, or none does before the end. The agent places the
end of the work by the sampler's looks, which come at least every 20 ms whatever the interval
(the last that found the runtime live, the first that found it finalizing), and credits the
last stack with the span up to there, and half of the stretch between the two. Half of the whole span, as before, read a loop that
ended 5 ms before the signal 428 ms short; the looks, at the interval then, also armed the
thread's event up to 500 ms late, and a 1-second loop read 497 ms short in the median of 20
runs. The margin is about a sample's span at the end: on a machine busy with other work the
sampler reads a preempted thread's stack at its looks, 20 to 50 ms apart then, and each such
read stands for the time since the one before (beside two CPU hogs, 65 runs with
PYINSTR_JITTER=1 read the loop's wall time -38.6 to +17.4 ms off), and above the truth, the
start-up's CPU, which goes to the first sample (-S: no site import).

The loop's time is read as the module's: a sample that lands on the print after the loop
carries the loop's last span with it (3 of 14 profiles in one CI run, 21-40 ms on
endwork.py line 15, and two of them then read 65-69 ms short), and where the last span goes
within the program is the sampling's to decide; what this test guards is that it is not lost
to the interpreter's finalization. Nor to the moment between the main module's end and
finalization, when the main thread has no frame: a sample there once took the loop's last
51 ms, and the final credit after it (-64.8 ms at 50 ms, 3.11, one CI run); there the agent
now credits the last stack, as it does for a thread that ends."""
import pyitest

RUNS = 3
SECONDS = 1.0
LOW, HIGH = -60.0, 60.0  # ms


def main():
    t = pyitest.Test(__doc__)
    seen = []
    for interval, jitter in (("500ms", None), ("50ms", None), ("500ms", 1)):
        label = interval + (" PYINSTR_JITTER=1" if jitter else "")
        for n in range(RUNS):
            out = t.subdir("%s-%s-%d" % (interval, jitter, n))
            env = t.env(outdir=out, PYINSTR_QUIET=1, PYINSTR_INTERVAL=interval,
                        PYINSTR_JITTER=jitter)
            r = t.run([t.python, "-S", t.workload("endwork.py"), str(SECONDS)], env=env)
            t.check(r.returncode == 0 and r.out.startswith("TRUTH"), "the workload runs",
                    "exit status 0 and a TRUTH line", "%s, %r" % (r.returncode, r.out))
            truth = dict(kv.split("=") for kv in r.out.split()[1:])
            prof = t.only_profile(out)
            for metric in ("wall", "cpu"):
                got = t.collapsed(prof, metric=metric).inclusive("<module>", "endwork.py")
                want = float(truth[metric])
                t.check(LOW <= got - want <= HIGH,
                        "PYINSTR_INTERVAL=%s, run %d: the loop's %s time is all there" %
                        (label, n + 1, metric),
                        "%.1f ms (its own measure) %+.0f..%+.0f" % (want, LOW, HIGH),
                        "%.1f ms (%+.1f)" % (got, got - want))
                seen.append("%s %s %+.1f" % (label, metric, got - want))
    t.passed("; ".join(seen))


main()
