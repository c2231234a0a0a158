"""A thread created from C code (pthread_create, then Python through a ctypes callback) is
sampled like any other: its Python function appears, beside the main thread's."""
import pyitest


def main():
    t = pyitest.Test(__doc__)
    r = t.run_py("cthread.py", env=t.env(PYINSTR_QUIET=1))
    t.check(r.returncode == 0 and "joined the C thread" in r.out, "the workload runs",
            "exit 0", "exit %s" % r.returncode)
    prof = t.only_profile()
    c = t.collapsed(prof)
    p = pyitest.read_profile(prof)
    counts = dict((n, c.inclusive(n, "cthread.py")) for n in ("c_thread_work",
                                                              "main_thread_work"))
    t.check(counts["c_thread_work"] >= 50, "the C-created thread's Python work is sampled",
            ">= 50 samples in c_thread_work (0.8 s)", "%s (%s)" % (counts, p.describe()))
    t.check(counts["main_thread_work"] >= 50, "the main thread's work is sampled too",
            ">= 50 samples in main_thread_work", counts)
    t.check(c.has_path(["thread_entry", "c_thread_work", "spin"]) >= 0.8 * counts["c_thread_work"],
            "the C thread's stack starts at the ctypes callback", "thread_entry;c_thread_work;spin",
            c.stacks_with("c_thread_work")[:2])
    t.check(len(p.sample_threads) >= 2, "samples from two threads", ">= 2",
            len(p.sample_threads))
    t.passed("%s of %d" % (counts, c.total))


main()
