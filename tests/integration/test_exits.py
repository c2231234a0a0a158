"""Every way out of a program leaves a complete profile with the work done before it: normal
exit, sys.exit, an uncaught exception and os._exit. The program's exit status and its own
output are kept, and one stderr line `pyinstr: N samples ... written to PATH` (unless
PYINSTR_QUIET=1) tells where the samples went."""
import os
import re

import pyitest

# how -> (exit status, END reason)
CASES = {
    "normal": (0, pyitest.END_EXIT),
    "sys_exit": (3, pyitest.END_EXIT),
    "exception": (1, pyitest.END_EXIT),
    "os_exit": (5, pyitest.END_UNDERSCORE_EXIT),
}
# The path may be followed by "; N walks abandoned" and other losses (a walk of a 3.11 or
# 3.12 frame still being initialised is abandoned now and then).
EXIT_LINE = re.compile(r"^pyinstr: (\d+) samples\b.* written to (.+?)(?:; [^/]*)?$")


def main():
    t = pyitest.Test(__doc__)
    for how, (status, reason) in CASES.items():
        bare = t.run_py("exits.py", how, env=t.env(profile=False))
        t.check(bare.returncode == status, "bare run of %s" % how, status, bare.returncode)
        out = t.subdir(how)
        r = t.run_py("exits.py", how, env=t.env(outdir=out))
        t.check(r.returncode == status, "%s: the exit status is kept" % how, status,
                r.returncode)
        t.check(r.stdout == bare.stdout, "%s: stdout is unchanged" % how, repr(bare.out),
                repr(r.out))
        prof = t.only_profile(out)
        p = pyitest.read_profile(prof)
        t.check(p.complete, "%s: the profile is complete" % how,
                "END record, no truncated tail", p.describe())
        t.check(p.end_reason == reason, "%s: END gives the reason" % how,
                pyitest.END_NAMES[reason], pyitest.END_NAMES.get(p.end_reason, p.end_reason))
        c = t.collapsed(prof)
        t.check(c.inclusive_share("exit_work", "exits.py") >= 0.5,
                "%s: the work before the exit is in the profile" % how,
                ">= 50% of samples in exit_work (0.4 s of ~0.45 s)", c.summary(["exit_work"]))
        err = r.err.splitlines()
        ours = [l for l in err if l.startswith("pyinstr:")]
        t.check(len(ours) == 1 and EXIT_LINE.match(ours[0]),
                "%s: exactly one exit line on stderr" % how,
                "pyinstr: N samples ... written to PATH", ours)
        m = EXIT_LINE.match(ours[0])
        t.check(os.path.realpath(m.group(2)) == os.path.realpath(prof),
                "%s: the exit line names the file" % how, prof, m.group(2))
        t.check(int(m.group(1)) in (p.samples, p.counters.get("samples")),
                "%s: the exit line counts the samples in the file" % how,
                "%d samples" % p.samples, m.group(1))
        t.check(err[-1] == ours[0], "%s: the exit line comes last" % how, ours[0], err[-1])
        t.check([l for l in err if l not in ours] == bare.err.splitlines(),
                "%s: stderr is the program's own plus that one line" % how, repr(bare.err),
                repr(r.err))

        quiet = t.subdir(how + "-quiet")
        q = t.run_py("exits.py", how, env=t.env(outdir=quiet, PYINSTR_QUIET=1))
        t.check(q.returncode == status and q.stdout == bare.stdout and q.stderr == bare.stderr,
                "%s: with PYINSTR_QUIET=1 stdout, stderr and status are byte-identical" % how,
                repr(bare.err), repr(q.err))
        t.check(pyitest.read_profile(t.only_profile(quiet)).complete,
                "%s: quiet still writes a complete profile" % how, "complete", "not")
    t.passed()


main()
