"""The program's own output is unchanged by the agent: stdout byte-identical to a bare run
(thousands of lines, raw writes, stdin echoed, the descriptors a child shell inherits); stderr
identical plus the one exit line (nothing at all with PYINSTR_QUIET=1)."""
import pyitest

STDIN = b"some input\x00\xff\n" * 50


def main():
    t = pyitest.Test(__doc__)
    bare = t.run_py("chatty.py", env=t.env(profile=False), input=STDIN)
    t.check(bare.returncode == 0, "bare run", 0, bare.returncode)
    for quiet in (True, False):
        d = t.subdir("quiet" if quiet else "loud")
        env = t.env(outdir=d, PYINSTR_QUIET=1 if quiet else None)
        r = t.run_py("chatty.py", env=env, input=STDIN)
        label = "PYINSTR_QUIET=1" if quiet else "default"
        t.check(r.returncode == bare.returncode, "%s: same exit status" % label,
                bare.returncode, r.returncode)
        if r.stdout != bare.stdout:
            a, b = bare.out.splitlines(), r.out.splitlines()
            diff = [(i, x, y) for i, (x, y) in enumerate(zip(a, b)) if x != y][:3]
            t.fail("%s: stdout is byte-identical to a bare run" % label,
                   "%d bytes" % len(bare.stdout),
                   "%d bytes; first differences (line, bare, profiled): %s; lengths %d/%d "
                   "lines" % (len(r.stdout), diff, len(a), len(b)))
        if quiet:
            t.check(r.stderr == bare.stderr, "%s: stderr is byte-identical" % label,
                    repr(bare.err), repr(r.err))
        else:
            lines = r.err.splitlines()
            t.check(lines[:-1] == bare.err.splitlines() and lines[-1].startswith("pyinstr: "),
                    "%s: stderr is the program's own plus one last pyinstr line" % label,
                    repr(bare.err) + " + 'pyinstr: ...'", repr(r.err))
        p = pyitest.read_profile(t.only_profile(d))
        t.check(p.complete and p.has_code("chatty_work"), "%s: the profile is complete" % label,
                "complete, with chatty_work", p.describe())
    t.passed()


main()
