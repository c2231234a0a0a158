"""A program that closes the descriptors it did not open and reuses their numbers for its own
files keeps those files intact: the agent's threads hold their descriptors in tables of their
own, which the program's closes do not reach. A program that does so over and over while it is
sampled (each close catching whatever the agent holds at that moment) has none of its files
closed or written under it, and still gets a complete profile; so does one that closes the
profile's descriptor and then forks (3.12+ restart the agent's threads after a fork)."""
import pyitest


def main():
    t = pyitest.Test(__doc__)
    d = t.subdir("files")
    r = t.run_py("fdreuse.py", d, env=t.env(outdir=t.subdir("prof")))
    want = ["data-%d.txt intact" % i for i in range(3)]
    t.check(r.out.splitlines() == want, "the program's files hold what it wrote", want,
            r.out.splitlines())
    t.check(r.returncode == 0, "the program exits 0", 0, r.returncode)

    d = t.subdir("churn")
    prof = t.subdir("churn-prof")
    r = t.run_py("fdchurn.py", d, "1.5", env=t.env(outdir=prof))
    lines = r.out.splitlines()
    iterations = int(lines[0].split()[1]) if lines and lines[0].startswith("iterations") else 0
    t.check(iterations >= 500, "the program reopened its files many times", ">= 500",
            iterations)
    t.check(lines[1:] == ["errors 0", "sizes match"],
            "no write or close of the program's failed, and every byte written is in its file",
            ["errors 0", "sizes match"], lines[1:])
    t.check(r.returncode == 0, "the program exits 0", 0, r.returncode)
    t.check("closed the profile" not in r.err and "samples of 1 threads written" in r.err,
            "the agent says where it wrote the profile, and nothing of a closed one",
            "'... samples of 1 threads written to ...'", r.err)
    p = pyitest.read_profile(t.only_profile(prof))
    t.check(p.complete and p.samples >= 100,
            "the profile is complete, with the program's samples", ">= 100 samples, END",
            p.describe())
    c = t.collapsed(p.path)
    t.check(c.inclusive_share("churn") >= 0.8, "most of the time is in churn()", ">= 80%",
            c.summary(["churn"]))

    d = t.subdir("fork")
    prof = t.subdir("fork-prof")
    r = t.run_py("fdfork.py", d, env=t.env(outdir=prof))
    t.check(r.returncode == 0 and r.out == "written after the fork\n",
            "the program's file holds what it wrote", "exit 0, 'written after the fork'",
            "exit %s, %r" % (r.returncode, r.out))
    t.check("closed the profile" not in r.err, "the profile was not lost to the close",
            "no 'closed the profile' on stderr", r.err)
    # The child may write a file of its own, if it was sampled before it left.
    mine = [p for p in map(pyitest.read_profile, t.profiles(prof)) if p.pid == r.pid]
    t.check(len(mine) == 1 and mine[0].complete, "the program's profile is complete",
            "1 complete file of pid %d" % r.pid, [p.describe() for p in mine])
    p = mine[0]
    c = t.collapsed(p.path)
    t.check(c.inclusive("after") >= 200 and c.inclusive("before") >= 200,
            "the profile has the work before the fork and after it", ">= 200 ms each",
            c.summary(["before", "after"]))
    t.passed()


main()
