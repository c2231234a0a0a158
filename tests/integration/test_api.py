"""The agent can be kept loaded but inert (PYINSTR_ENABLED=0) and driven at run time through
its C API: pyinstr_start(path) profiles from then on, pyinstr_stop() completes the file, and
only the work in between is in the profile."""
import errno
import os

import pyitest


def main():
    t = pyitest.Test(__doc__)
    d = t.subdir("api")
    out = os.path.join(d, "api.prof")
    r = t.run_py("api.py", out, env=t.env(outdir=d, PYINSTR_ENABLED=0, PYINSTR_QUIET=1))
    t.check(r.returncode == 0, "the workload runs", "exit 0", "exit %s" % r.returncode)
    lines = r.out.splitlines()
    want = ["active at start: 0", "start: 0", "start again: %d" % -errno.EALREADY,
            "active: 1", "stop: 0", "stop again: %d" % -errno.ENOENT]
    t.check(lines == want, "the API answers as documented", want, lines)
    t.check(t.profiles(d) == [out], "exactly the requested file is written", [out],
            t.profiles(d))
    p = pyitest.read_profile(out)
    t.check(p.complete, "the file ends with an END record", "END", p.describe())
    c = t.collapsed(out)
    inside = c.inclusive("profiled_part", "api.py")
    t.check(inside >= 100, "the work between start and stop is sampled",
            ">= 100 samples in profiled_part", c.summary(["profiled_part"]))
    for name in ("before_start", "after_stop"):
        n = c.inclusive(name, "api.py")
        t.check(n == 0, "%s (outside the session) is not in the profile" % name, 0,
                c.summary([name]))
    t.passed("%d samples in profiled_part" % inside)


main()
