"""PYINSTR_JITTER=1 samples running threads at times of their own: work that keeps step with
the clock is attributed within 3 percentage points of the time it took.

The workload spends the first millisecond of every 4 ms of CLOCK_MONOTONIC in first_quarter and
the rest in the_rest. Samples taken at a 250 Hz kernel tick all land at the same point of those
4 ms: without the variable, on this project's VM, first_quarter read 0% against a truth of
24.4% (README, "Known limits"). With it, the sampler signals the thread at random times, and
its timer never fires. Each run gets up to three attempts (a machine busy with other work
delays the sampler's wake-ups); a systematic error fails all three."""
# pyitest: exclusive
import pyitest

TOLERANCE = 3.0  # percentage points
ATTEMPTS = 3
NAMES = ["first_quarter", "the_rest"]


def attempt(t, n):
    out = t.subdir("jitter-%d" % n)
    env = t.env(outdir=out, PYINSTR_QUIET=1, PYINSTR_JITTER=1)
    r = t.run([t.python, "-S", t.workload("ticklocked.py"), "2.0"], env=env)
    t.check(r.returncode == 0, "the workload runs", "exit status 0", r.returncode)
    prof = t.only_profile(out)
    p = pyitest.read_profile(prof)
    t.check(p.counters.get("signals_sent", 0) >= 500 and
            p.counters.get("timer_signals", -1) == 0,
            "the running thread is sampled by the sampler's signals, not by its timer",
            "signals_sent >= 500, timer_signals 0", p.counters)
    return pyitest.ticklocked_errors(t, r, prof, NAMES, TOLERANCE)


def main():
    t = pyitest.Test(__doc__)
    seen = []
    for n in range(1, ATTEMPTS + 1):
        errors, summary = attempt(t, n)
        print("attempt %d: %s%s" % (n, summary, ("; off: " + "; ".join(errors)) if errors
                                    else ""))
        seen.append(summary)
        if not errors:
            t.passed(summary)
            return
    t.fail("both functions get their share of all samples within %.0f points of the truth the "
           "workload measured, in one of %d runs" % (TOLERANCE, ATTEMPTS),
           "first_quarter about 25%, the_rest about 75%, +- 3", " | ".join(seen))


main()
