"""A program that spends 70% of its CPU-bound time in one function and 30% in another is
attributed within 3 percentage points (inclusive share of all the time), at the default 1 ms
interval and at 100 us; the default text report puts the hot function first.

The shares are statistics over about 1,000 samples: the runs last RUN_SECONDS, because perf
task-clock events sample a running thread about every 8 ms of CPU (two ticks at 250 Hz).
At 2 s, 220 samples gave a binomial spread of 3.1 points for a 70% share, as wide as the
tolerance: 3.9 at 100 us read 73.8%, 66.9% and 64.4% in CI. At 4.5 s, about 560 samples, the
spread is 1.9 points (8 runs on 3.8 at 100 us read 1.9 and 2.1 with two agents), and in one CI
run 3.8 and Debian's 3.11 at 100 us each had all three attempts off by 3.4 to 4.2 points, in
both directions. At 8 s, about 1,000 samples, the binomial spread comes to 1.45 points (and
six runs of 8 s fit run.py's 60-second limit). A machine busy with other work changes how
the agent samples (README, "How it samples"): run.py runs this test alone, and each interval
gets up to three runs and must be within tolerance in one of them. A systematic error fails
all three; every attempt is printed."""
# pyitest: exclusive
import pyitest

TOLERANCE = 3.0  # percentage points
ATTEMPTS = 3
RUN_SECONDS = 8.0
NAMES = ["hot_seventy", "cold_thirty"]


def attempt(t, interval, n):
    out = t.subdir("%s-%d" % (interval or "default", n))
    env = t.env(outdir=out, PYINSTR_QUIET=1, PYINSTR_INTERVAL=interval)
    # -S: no site import. Start-up work differs from machine to machine (here a .pth file in
    # site-packages imports certifi: 0.1 s) and lies outside both functions, so it would eat
    # into the shares in a way the workload cannot measure.
    r = t.run([t.python, "-S", t.workload("split.py"), str(RUN_SECONDS)], env=env)
    t.check(r.returncode == 0, "the workload runs", "exit status 0", r.returncode)
    truth = dict(kv.split("=") for kv in r.out.split()[1:])
    prof = t.only_profile(out)
    c = t.collapsed(prof)
    label = "interval %s" % (interval or "default (1ms)")
    t.check(c.total >= 500, "%s: enough time in the run" % label, ">= 500 ms", c.total)
    errors = []
    for name, want in (("hot_seventy", 70.0), ("cold_thirty", 30.0)):
        measured = 100.0 * float(truth[name])
        t.check(abs(measured - want) < 1.0, "the workload itself keeps to its split",
                "%s %.0f%%" % (name, want), "%.1f%%" % measured)
        got = 100.0 * c.inclusive_share(name, "split.py")
        if abs(got - measured) > TOLERANCE:
            errors.append("%s: %.1f%% of all the time, truth %.1f%%" % (name, got, measured))
    summary = "%s: %s of %d ms" % (label, c.summary(NAMES), c.total)
    return c, prof, errors, summary


def check_split(t, interval):
    seen = []
    for n in range(1, ATTEMPTS + 1):
        c, prof, errors, summary = attempt(t, interval, n)
        print("attempt %d: %s%s" % (n, summary, ("; off: " + "; ".join(errors)) if errors
                                    else ""))
        seen.append(summary)
        if not errors:
            return c, prof
    t.fail("interval %s: both functions get their share of all samples within %.0f points "
           "of the truth the workload measured, in one of %d runs" % (
               interval or "default", TOLERANCE, ATTEMPTS),
           "hot_seventy 70% and cold_thirty 30%, +- 3", " | ".join(seen))


def main():
    t = pyitest.Test(__doc__)
    c, prof = check_split(t, None)
    text = t.report(prof)
    t.check(text.returncode == 0 and "hot_seventy" in text.out and "cold_thirty" in text.out,
            "the default text report succeeds and names both functions",
            "exit 0 and both names", "exit %s, %d bytes" % (text.returncode, len(text.stdout)))
    t.check(text.out.find("hot_seventy") < text.out.find("cold_thirty"),
            "the heavier function comes first in the text report",
            "hot_seventy before cold_thirty", text.out[:2000])
    c100, _ = check_split(t, "100us")
    # Samples carry unequal weights (a running thread's come at the kernel tick, README "How
    # it samples"): whatever their number, they add up to the run's time (0.95 to 1.3 of it).
    low, high = 950 * RUN_SECONDS, 1300 * RUN_SECONDS
    for label, col in (("1ms", c), ("100us", c100)):
        t.check(low <= col.total <= high, "%s: the samples add up to the run's time" % label,
                "%.0f..%.0f ms" % (low, high), "%.1f ms" % col.total)
    t.passed("1ms: %s; 100us: %s" % (c.summary(NAMES), c100.summary(NAMES)))


main()
