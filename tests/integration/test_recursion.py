"""3000-frame recursion: with the default cap (2048 frames) every sample keeps the leaf end
and is marked truncated; with PYINSTR_MAX_DEPTH=4000 the whole stack, root included, is there.
Stack at the bottom of the workload, root first: <module>, main, descend x 3001, bottom_spin."""
import pyitest

DEPTH = 3000
FULL = DEPTH + 4  # <module>, main, descend x (DEPTH + 1), bottom_spin


def bottom_stacks(t, c):
    stacks = [(fs, n) for fs, n in c.stacks if fs[-1].matches("bottom_spin", "recursion.py")]
    total = sum(n for _, n in stacks)
    t.check(total >= 100, "samples land in bottom_spin at the bottom of the recursion",
            ">= 100 samples of ~2 s", "%d (all stacks: %d samples)" % (total, c.total))
    return stacks, total


def main():
    t = pyitest.Test(__doc__)

    # Default cap: 2048 frames, leaf end kept.
    out = t.subdir("default")
    r = t.run_py("recursion.py", str(DEPTH), "2.0", env=t.env(outdir=out, PYINSTR_QUIET=1))
    t.check(r.returncode == 0, "the workload runs", "exit status 0", r.returncode)
    prof = t.only_profile(out)
    p = pyitest.read_profile(prof)
    t.check(p.info.get("max_depth") in (None, "2048"), "the default cap is 2048",
            "max_depth 2048", p.info.get("max_depth"))
    t.check(p.max_depth_seen == 2048, "no sample holds more than the cap, and deep ones fill it",
            "deepest sample 2048 frames", p.max_depth_seen)
    t.check(p.flag_counts[pyitest.FLAG_TRUNCATED] >= 100 and
            p.counters.get("truncated", 0) >= p.flag_counts[pyitest.FLAG_TRUNCATED],
            "truncated samples are flagged and counted",
            ">= 100 TRUNCATED samples, and a counter at least as high", "%d flagged, counter %s" % (
                p.flag_counts[pyitest.FLAG_TRUNCATED], p.counters.get("truncated")))
    # Nothing is lost silently: the report says that stacks were cut.
    c = t.collapsed(prof, expect_warning=True)
    stacks, _ = bottom_stacks(t, c)
    for fs, n in stacks:
        py = [f for f in fs if f.is_python()]
        t.check(len(py) == 2048, "a truncated stack keeps exactly 2048 frames",
                2048, "%d Python frames (+%d others: %s)" % (
                    len(py), len(fs) - len(py), [f for f in fs if not f.is_python()][:3]))
        t.check(all(f.matches("descend") for f in py[:-1]),
                "the leaf end is kept: bottom_spin under 2047 descend frames, the root end cut",
                "descend x 2047, bottom_spin", "first frames %s" % py[:3])
        t.check(not any(f.matches("<module>") or f.matches("main") for f in fs),
                "the root end is what is dropped", "no <module> or main", "present")

    # Cap raised: the full stack.
    out = t.subdir("deep")
    r = t.run_py("recursion.py", str(DEPTH), "2.0",
                 env=t.env(outdir=out, PYINSTR_QUIET=1, PYINSTR_MAX_DEPTH=4000))
    t.check(r.returncode == 0, "the workload runs", "exit status 0", r.returncode)
    prof = t.only_profile(out)
    c = t.collapsed(prof)
    p = pyitest.read_profile(prof)
    stacks, total = bottom_stacks(t, c)
    for fs, n in stacks:
        t.check(len(fs) == FULL, "with PYINSTR_MAX_DEPTH=4000 the whole stack is kept",
                "%d frames" % FULL, "%d frames, first %s" % (len(fs), fs[:3]))
        names = [f.qualname for f in fs]
        t.check(fs[0].matches("<module>") and fs[1].matches("main") and
                names.count("descend") == DEPTH + 1,
                "root first: <module>, main, then descend %d times" % (DEPTH + 1),
                "<module>;main;descend x %d;bottom_spin" % (DEPTH + 1),
                "%s ... (%d descend)" % (names[:4], names.count("descend")))
        lines = [f.line for f in fs if f.matches("descend")]
        t.check(len(set(lines[:-1])) == 1 and lines[-1] != lines[0],
                "each descend frame is at its current line: the recursive call, and the call "
                "to bottom_spin in the deepest one", "one line for all but the last",
                "lines %s, last %s" % (sorted(set(lines[:-1])), lines[-1:]))
    t.check(p.flag_counts[pyitest.FLAG_TRUNCATED] == 0, "nothing is truncated under the cap",
            "0 TRUNCATED samples", p.flag_counts[pyitest.FLAG_TRUNCATED])
    t.passed("%d full-depth samples at the bottom" % total)


main()
