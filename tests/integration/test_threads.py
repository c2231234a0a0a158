"""Four threads, each busy in its own function, all appear in the profile with a fair share,
and the file has a THREAD record for each of them besides the main thread."""
import pyitest

WORKERS = ("worker_alpha", "worker_beta", "worker_gamma", "worker_delta")


def main():
    t = pyitest.Test(__doc__)
    r = t.run_py("threads.py", "1.2", env=t.env(PYINSTR_QUIET=1))
    t.check(r.returncode == 0 and "threads done: 4" in r.out, "the workload runs",
            "exit 0 and 'threads done: 4'", "exit %s, %r" % (r.returncode, r.out))
    prof = t.only_profile()
    c = t.collapsed(prof)
    p = pyitest.read_profile(prof)
    t.check(len(p.threads) >= 5, "a THREAD record for the main thread and each worker",
            ">= 5 threads", "%d: %s" % (len(p.threads), sorted(p.threads.values())))
    sampled = [tid for tid, n in p.sample_threads.items() if n > 0]
    t.check(len(sampled) >= 5, "samples from at least five threads", ">= 5", len(sampled))
    counts = dict((w, c.inclusive(w, "threads.py")) for w in WORKERS)
    # With the GIL, one worker runs while three wait for it (a wait in C, under the same Python
    # stack): every worker's stack is there for the whole 1.2 s, so each should get about as
    # many samples as the others. Ask for a third of the busiest one, and at least 50.
    top = max(counts.values())
    for w in WORKERS:
        t.check(counts[w] >= 50 and counts[w] >= top / 3,
                "%s appears with a fair share of samples" % w,
                ">= 50 and >= a third of the busiest worker (%d)" % top,
                "%d (%s)" % (counts[w], counts))
        t.check(c.has_path([w, "spin"]) > 0, "%s's stack shows what it calls" % w,
                "%s;spin stacks" % w, [s for s in c.stacks_with(w)][:2])
    shared = [fs for fs, _ in c.stacks if sum(any(f.matches(w) for f in fs) for w in WORKERS) > 1]
    t.check(not shared, "no stack mixes two threads' functions", "none", shared[:2])
    t.passed("samples per worker %s of %d" % (counts, c.total))


main()
