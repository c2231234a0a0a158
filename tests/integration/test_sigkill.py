"""SIGKILL mid-run leaves a profile that pyinstr-report reads up to the last flush (at most
250 ms before the kill), with a warning that the file was cut short, and exit status 0."""
import time

import pyitest

BUSY = 2.0   # seconds the victim runs after it said `ready`
FLUSH = 0.25  # the agent flushes at least this often
SLACK = 0.45  # a loaded machine may delay the writer this much more


def main():
    t = pyitest.Test(__doc__)
    env = t.env(PYINSTR_QUIET=1)
    t0 = time.monotonic()
    proc = t.start([t.python, t.workload("sigkill.py")], env)
    try:
        line = proc.stdout.readline()
        t.check(line == b"ready\n", "the victim starts", "ready", line)
        time.sleep(BUSY)
    finally:
        pyitest.kill_quietly(proc)
        killed_at = time.monotonic() - t0
        out, err = proc.communicate()
    t.note("victim stderr: %r; killed %.3f s after it started" % (err, killed_at))
    prof = t.only_profile()
    p = pyitest.read_profile(prof)
    t.check(p.error is None, "the killed process's file is not corrupt", "no error", p.error)
    t.check(p.end_reason is None, "the killed process's file has no END record", "no END",
            p.describe())
    # The session starts in the agent's constructor, right after the process does: the latest
    # sample in the file shows how long before the kill the last flush was.
    t.check(p.last_sample_ns / 1e9 >= killed_at - FLUSH - SLACK,
            "the file holds the samples up to the last flush before the kill",
            "a sample at >= %.2f s (killed at %.2f s, flushes every %.2f s, %.2f s slack)" % (
                killed_at - FLUSH - SLACK, killed_at, FLUSH, SLACK),
            "latest sample at %.3f s (%s)" % (p.last_sample_ns / 1e9, p.describe()))
    c = t.collapsed(prof, expect_warning=True)
    n = c.inclusive("sigkill_victim", "sigkill.py")
    t.check(n >= 300, "the victim's work is in the report",
            ">= 300 samples in sigkill_victim (%.1f s at 1 ms)" % BUSY, n)
    t.passed("%d samples survived, the latest %.2f s after start (killed at %.2f s); the "
             "report said %r" % (n, p.last_sample_ns / 1e9, killed_at, c.stderr.strip()))


main()
