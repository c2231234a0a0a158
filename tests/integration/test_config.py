"""Configuration: each bad PYINSTR_* value gives exactly one stderr line naming the variable,
the program's output and status are unchanged and it is still profiled with the default;
PYINSTR_ENABLED=0 leaves the agent loaded but inert; PYINSTR_QUIET=1 adds nothing to stderr;
the default output is pyinstr-<pid>.prof in the working directory, the one the program started
in even if it moves at once; an output that cannot be made is one stderr line; PYINSTR_INTERVAL
sets the sampling period."""
# pyitest: exclusive
import os
import time

import pyitest

BAD = [
    ("PYINSTR_INTERVAL", "fast"),
    ("PYINSTR_INTERVAL", "1000"),      # no unit
    ("PYINSTR_INTERVAL", "10us"),      # below 100us
    ("PYINSTR_INTERVAL", "5s"),        # above 1s
    ("PYINSTR_MAX_DEPTH", "0"),
    ("PYINSTR_MAX_DEPTH", "deep"),
    ("PYINSTR_MAX_DEPTH", "70000"),
    ("PYINSTR_BUFFER", "1K"),          # below 64K
    ("PYINSTR_BUFFER", "lots"),
    ("PYINSTR_QUIET", "maybe"),
    ("PYINSTR_ENABLED", "perhaps"),
    ("PYINSTR_JITTER", "sometimes"),
    ("PYINSTR_OUTPUT", "out-%q.prof"),  # unknown %-sequence
    ("PYINSTR_INTERVALL", "1ms"),      # a misspelt name
]


def main():
    t = pyitest.Test(__doc__)
    bare = t.run_py("hello.py", env=t.env(profile=False))
    t.check(bare.returncode == 0, "bare run", 0, bare.returncode)

    for n, (var, value) in enumerate(BAD):
        d = t.subdir("bad%d" % n)
        env = t.env(outdir=d, PYINSTR_QUIET=1)
        env[var] = value
        r = t.run_py("hello.py", env=env, cwd=d)
        what = "%s=%r" % (var, value)
        t.check(r.returncode == 0 and r.stdout == bare.stdout,
                "%s: stdout and exit status unchanged" % what, repr(bare.out), repr(r.out))
        lines = r.err.splitlines()
        naming = [l for l in lines if var in l]
        t.check(len(naming) == 1 and naming[0].startswith("pyinstr: "),
                "%s: exactly one stderr line names the variable" % what,
                "one 'pyinstr: ... %s ...' line" % var, lines)
        t.check(value in naming[0] or var == "PYINSTR_INTERVALL",
                "%s: the line quotes the bad value" % what, value, naming[0])
        rest = [l for l in lines if l not in naming]
        if var == "PYINSTR_QUIET":  # the default (not quiet) is kept: the exit line follows
            rest = [l for l in rest if not l.startswith("pyinstr: ")]
        t.check(rest == bare.err.splitlines(), "%s: nothing else is added to stderr" % what,
                repr(bare.err), lines)
        files = t.profiles(d)
        if var == "PYINSTR_OUTPUT":
            want = os.path.join(d, "pyinstr-%d.prof" % r.pid)
            t.check(files == [want], "%s: the default output is used instead" % what, want,
                    os.listdir(d))
        else:
            t.check(len(files) == 1, "%s: the program is still profiled" % what, "one file",
                    os.listdir(d))
        t.check(pyitest.read_profile(files[0]).complete, "%s: the profile is complete" % what,
                "complete", pyitest.read_profile(files[0]).describe())

    # Inert: loaded, but nothing happens.
    for value in ("0", "false", "OFF", "no"):
        d = t.subdir("disabled-" + value)
        env = t.env(outdir=d, PYINSTR_ENABLED=value)
        r = t.run_py("hello.py", env=env, cwd=d)
        t.check(r.returncode == 0 and r.stdout == bare.stdout and r.stderr == bare.stderr,
                "PYINSTR_ENABLED=%s: byte-identical output" % value, (bare.out, bare.err),
                (r.out, r.err))
        t.check(os.listdir(d) == [], "PYINSTR_ENABLED=%s: no file" % value, [], os.listdir(d))
    env = t.env(PYINSTR_ENABLED="0")
    bare_threads = None
    for e in (t.env(profile=False), env):
        proc = t.start([t.python, t.workload("sleeper.py"), "3"], e)
        try:
            t.check(proc.stdout.readline() == b"ready\n", "sleeper starts", "ready", "?")
            time.sleep(0.3)
            threads = pyitest.proc_task_count(proc.pid)
            mapped = pyitest.proc_maps_mention(proc.pid, "libpyinstr.so")
            timers = pyitest.proc_timers(proc.pid)
        finally:
            pyitest.kill_quietly(proc)
            proc.communicate()
        if bare_threads is None:
            bare_threads = threads
            continue
        t.check(mapped is True, "PYINSTR_ENABLED=0: the agent is loaded", True, mapped)
        t.check(threads == bare_threads, "PYINSTR_ENABLED=0: no extra thread", bare_threads,
                threads)
        t.check(not timers, "PYINSTR_ENABLED=0: no timer", "", repr(timers))

    # Quiet: stderr byte-identical, file still written.
    d = t.subdir("quiet")
    r = t.run_py("hello.py", env=t.env(outdir=d, PYINSTR_QUIET=1))
    t.check(r.stderr == bare.stderr and r.stdout == bare.stdout,
            "PYINSTR_QUIET=1: byte-identical output", repr(bare.err), repr(r.err))
    t.check(len(t.profiles(d)) == 1, "PYINSTR_QUIET=1: the profile is written", 1,
            os.listdir(d))

    # Default output name, in the working directory.
    d = t.subdir("default-output")
    env = t.env()
    env.pop("PYINSTR_OUTPUT")
    r = t.run_py("hello.py", env=env, cwd=d)
    want = "pyinstr-%d.prof" % r.pid
    t.check(os.listdir(d) == [want], "the default output is pyinstr-<pid>.prof", [want],
            os.listdir(d))
    t.check(r.err.splitlines()[-1].endswith(want), "the exit line names it", want,
            r.err.splitlines()[-1:])

    # A program that changes directory at once still has its file where it started.
    d, elsewhere = t.subdir("started-here"), t.subdir("moved-there")
    script = t.path("chdir_first.py")
    with open(script, "w") as f:
        f.write("import os, sys\nos.chdir(sys.argv[1])\nsys.argv = sys.argv[2:]\n"
                "exec(open(sys.argv[0]).read())\n")
    env = t.env()
    env["PYINSTR_OUTPUT"] = "moved-%p.prof"
    r = t.run([t.python, script, elsewhere, t.workload("hello.py")], env=env, cwd=d)
    want = "moved-%d.prof" % r.pid
    t.check(r.returncode == 0 and os.listdir(d) == [want] and os.listdir(elsewhere) == [],
            "a relative PYINSTR_OUTPUT names a file in the directory the program started in",
            "%s in %s" % (want, d), "exit status %s; %s; there: %s" % (
                r.returncode, os.listdir(d), os.listdir(elsewhere)))

    # A file that cannot be made: one line naming PYINSTR_OUTPUT, and the program runs.
    d = t.subdir("unwritable")
    missing = os.path.join(d, "no-such-directory", "out.prof")
    r = t.run_py("hello.py", env=t.env(PYINSTR_OUTPUT=missing), cwd=d)
    lines = r.err.splitlines()
    ours = [l for l in lines if l.startswith("pyinstr: ")]
    t.check(r.returncode == 0 and r.stdout == bare.stdout,
            "an unwritable PYINSTR_OUTPUT: stdout and exit status unchanged", repr(bare.out),
            repr(r.out))
    t.check(len(ours) == 1 and "PYINSTR_OUTPUT" in ours[0] and missing in ours[0],
            "an unwritable PYINSTR_OUTPUT: one stderr line names the variable and the path",
            "one 'pyinstr: ... %s ... PYINSTR_OUTPUT ...' line" % missing, lines)
    t.check([l for l in lines if l not in ours] == bare.err.splitlines(),
            "an unwritable PYINSTR_OUTPUT: nothing else is added to stderr", repr(bare.err),
            lines)
    t.check(os.listdir(d) == [], "an unwritable PYINSTR_OUTPUT: no file anywhere else", [],
            os.listdir(d))

    # The interval is honoured: 0.5 s of work at 10ms and at 100us. A running thread is
    # signalled by a CPU-time timer, which the kernel checks at its scheduler tick (CONFIG_HZ,
    # 100 to 1000 a second): at 10ms a sample follows each 10 ms of CPU (at the tick after
    # it: 50 to 100 samples per CPU second), at 100us one follows each tick the thread runs
    # through (100 to 1000 per CPU second). Rates are per second of the thread's CPU time,
    # which a loaded machine gives it less of. A thread that waits for a CPU often is sampled
    # by the sampler's own signals instead (README, "How it samples"): then only the time is
    # checked. These are the timers' rates (PYINSTR_TIMER=tick); test_timer checks the task-clock
    # events'.
    rates = {}
    for interval, lo, hi in (("10ms", 45, 105), ("100us", 90, 1100)):
        d = t.subdir("interval-" + interval)
        r = t.run_py("hello.py", "0.5", env=t.env(outdir=d, PYINSTR_QUIET=1,
                                                  PYINSTR_INTERVAL=interval,
                                                  PYINSTR_TIMER="tick"))
        p = pyitest.read_profile(t.only_profile(d))
        n = p.counters.get("timer_signals", 0)
        rate = n / (p.cpu_ns / 1e9) if p.cpu_ns else 0.0
        if p.counters.get("contended", 0) == 0:
            t.check(lo <= rate <= hi, "PYINSTR_INTERVAL=%s: the sample rate follows" % interval,
                    "%d..%d timer samples of the running thread per CPU second" % (lo, hi),
                    "%.0f (%d in %.3f s of CPU; %s)" % (rate, n, p.cpu_ns / 1e9, p.describe()))
            rates[interval] = rate
        else:
            t.note("interval %s: the thread waited for a CPU (contended), rate not checked: %s"
                   % (interval, p.describe()))
        want_ns = {"10ms": "10000000", "100us": "100000"}[interval]
        t.check(p.info.get("interval_ns") == want_ns, "the file records the interval", want_ns,
                p.info.get("interval_ns"))
        ms = t.collapsed(p.path).inclusive("hello_work")
        t.check(400 <= ms <= 1000, "PYINSTR_INTERVAL=%s: the work's time is all there" % interval,
                "400..1000 ms in hello_work", "%.1f ms" % ms)
    # A long interval: the timer's first signal comes after 500 ms of CPU, and the thread
    # must not be given up as blocking the signal meanwhile (it was, after 100 ms of CPU,
    # and the profile then had no CPU at all). 3 s of work: an event's periods are drawn
    # from 250 to 750 ms, and each new draw starts the count again, so 2 s gave one sample
    # in 2 runs of 12.
    d = t.subdir("interval-500ms")
    t.run_py("hello.py", "3.0", env=t.env(outdir=d, PYINSTR_QUIET=1, PYINSTR_INTERVAL="500ms"))
    p = pyitest.read_profile(t.only_profile(d))
    t.check(p.counters.get("signals_late", -1) == 0 and p.counters.get("timer_signals", 0) >= 2,
            "PYINSTR_INTERVAL=500ms: the running thread is sampled, not given up as late",
            "signals_late 0, timer_signals >= 2", p.describe())
    # The module's time, not hello_work's alone: a sample carries the CPU since the one before
    # (250-750 ms here), and one that lands on the line after the call carries the last of
    # the work with it (twice in CI: 436 ms on <module> line 15, hello_work 2,586 ms).
    ms = t.collapsed(p.path).inclusive("<module>", "hello.py")
    t.check(2600 <= ms <= 4000, "PYINSTR_INTERVAL=500ms: the work's time is all there",
            "2600..4000 ms in hello.py's <module>", "%.1f ms" % ms)
    if len(rates) == 2:
        t.check(rates["100us"] >= 1.4 * rates["10ms"], "100us samples more often than 10ms",
                ">= 1.4 x %.0f per CPU second" % rates["10ms"], "%.0f" % rates["100us"])
    t.passed("samples of the running thread per CPU second: %s" %
             {k: round(v) for k, v in rates.items()})


main()
