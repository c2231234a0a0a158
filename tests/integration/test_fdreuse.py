"""A program that closes the descriptors it did not open and reuses their numbers for its own
files keeps those files intact: the agent holds no descriptor across its work except the
profile's, and checks that one is still the profile before every write."""
import pyitest


def main():
    t = pyitest.Test(__doc__)
    d = t.subdir("files")
    r = t.run_py("fdreuse.py", d, env=t.env(outdir=t.subdir("prof")))
    want = ["data-%d.txt intact" % i for i in range(3)]
    t.check(r.out.splitlines() == want, "the program's files hold what it wrote", want,
            r.out.splitlines())
    t.check(r.returncode == 0, "the program exits 0", 0, r.returncode)
    t.passed()


main()
