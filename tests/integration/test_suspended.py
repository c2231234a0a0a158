"""Work done inside generators, hand-driven coroutines and asyncio tasks is attributed to the
functions doing it, and their callers appear above them: the consumer above the generator, the
driver above the coroutine, the event loop above the task."""
import pyitest

PATHS = {
    "generators": ["consume_generator", "delegating_generator", "produce_values",
                   "generator_burn", "spin"],
    "coroutines": ["drive_coroutine", "coroutine_outer", "coroutine_inner", "coroutine_burn",
                   "spin"],
    "asyncio tasks": ["asyncio_task_body", "asyncio_leaf", "asyncio_burn", "spin"],
}


def ordered(frames, names):
    """True if names occur in frames in this order (not necessarily adjacent)."""
    i = 0
    for f in frames:
        if i < len(names) and f.matches(names[i]):
            i += 1
    return i == len(names)


def main():
    t = pyitest.Test(__doc__)
    r = t.run_py("suspended.py", "0.6", env=t.env(PYINSTR_QUIET=1))
    t.check(r.returncode == 0 and "suspended work done" in r.out, "the workload runs",
            "exit 0", "exit %s" % r.returncode)
    c = t.collapsed(t.only_profile())
    notes = []
    for what, path in PATHS.items():
        leaf = path[-2]
        n = c.inclusive(leaf, "suspended.py")
        # A third of the run; only a presence check, since a machine busy with other work
        # can starve the sampler for a good part of a 0.6 s phase. The path checks below are
        # what this test is about.
        t.check(n >= 20, "%s: the work is attributed to %s" % (what, leaf),
                ">= 20 samples (a third of the run, %d samples)" % c.total,
                "%d samples (%s)" % (n, c.summary([p for p in path[:-1]])))
        chained = c.has_path(path)
        t.check(chained >= 0.8 * n, "%s: the callers sit directly above, root to leaf %s" %
                (what, ";".join(path)), ">= 80%% of the %d samples in %s" % (n, leaf),
                "%d; stacks with %s: %s" % (chained, leaf, c.stacks_with(leaf)[:3]))
        with_root = sum(k for fs, k in c.stacks_with(leaf) if fs[0].matches("<module>"))
        t.check(with_root >= 0.8 * n, "%s: the stacks reach up to <module>" % what,
                ">= 80%% of %d" % n, with_root)
        notes.append("%s %d" % (leaf, n))
    # The event loop runs the tasks: its frames are between the module and the task body.
    loop = ["run_until_complete", "run_forever", "_run_once", "_run", "asyncio_task_body"]
    body = c.inclusive("asyncio_task_body")
    under_loop = sum(k for fs, k in c.stacks_with("asyncio_task_body") if ordered(fs, loop))
    t.check(under_loop >= 0.8 * body, "asyncio: the event loop's frames are the task's callers",
            "%s in order in >= 80%% of %d samples" % (" ... ".join(loop), body),
            "%d; e.g. %s" % (under_loop, c.stacks_with("asyncio_task_body")[:1]))
    t.passed(", ".join(notes) + " of %d" % c.total)


main()
