"""A program that crashes still crashes the same way under the agent: the fault guard only
catches faults inside its own frame walks and hands every other fault back (to the default
action, or to faulthandler, whose report is printed as without the agent)."""
import pyitest


def main():
    t = pyitest.Test(__doc__)
    for args, flags in (([], []), (["fork"], []), ([], ["-X", "faulthandler"])):
        what = " ".join(flags + ["crash.py"] + args)
        argv = [t.python] + flags + [t.workload("crash.py")] + args
        bare = t.run(argv, env=t.env(profile=False))
        prof = t.run(argv, env=t.env(PYINSTR_QUIET=1))
        t.check(prof.returncode == bare.returncode, "%s: same exit status" % what,
                bare.returncode, prof.returncode)
        t.check(prof.out == bare.out, "%s: same stdout" % what, repr(bare.out), repr(prof.out))
        first = lambda r: [l for l in r.err.splitlines() if l.strip()][:1]
        t.check(first(prof) == first(bare), "%s: same first line on stderr" % what,
                first(bare), first(prof))
    t.passed()


main()
