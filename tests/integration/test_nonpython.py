"""In a process that is not Python the agent does nothing: `sh -c`, `ls`, `cat`, `make
--version` behave byte-identically with and without LD_PRELOAD (stdout, stderr, exit status),
even with bad PYINSTR_* values; no file appears; a `sleep` under the agent has the library
mapped but no extra thread, no signal handler and no timer."""
# pyitest: python=none
import os
import shutil
import time

import pyitest

COMMANDS = [
    (["sh", "-c", "echo out; echo err >&2; exit 3"], None),
    (["ls", "-la", "--time-style=+"], None),
    (["ls", "/nonexistent-pyinstr-path"], None),
    (["cat"], b"binary \x00\xff data\nsecond line without newline"),
    (["make", "--version"], None),
    (["sh", "-c", "ls /proc/self/fd; cat /proc/self/status | grep -c ."], None),
]


def run_pair(t, argv, stdin, agent_vars, n):
    """Runs argv bare and under the agent, each in a fresh empty directory."""
    bare_dir, agent_dir = t.subdir("bare%d" % n), t.subdir("agent%d" % n)
    bare = t.run(argv, env=t.env(profile=False), cwd=bare_dir, input=stdin)
    env = t.env(**agent_vars)
    if "PYINSTR_OUTPUT" not in agent_vars:
        env.pop("PYINSTR_OUTPUT")  # the default, pyinstr-%p.prof in the working directory
    agent = t.run(argv, env=env, cwd=agent_dir, input=stdin)
    shown = " ".join(argv)
    t.check(agent.returncode == bare.returncode, "%s: same exit status" % shown,
            bare.returncode, agent.returncode)
    t.check(agent.stdout == bare.stdout, "%s: byte-identical stdout" % shown, repr(bare.out),
            repr(agent.out))
    t.check(agent.stderr == bare.stderr, "%s: byte-identical stderr" % shown, repr(bare.err),
            repr(agent.err))
    t.check(os.listdir(agent_dir) == [], "%s: no file is created" % shown, "empty directory",
            os.listdir(agent_dir))


def look_at_sleep(t, env):
    proc = t.start(["sleep", "3"], env)
    try:
        time.sleep(0.5)
        facts = {
            "threads": pyitest.proc_task_count(proc.pid),
            "SigCgt": pyitest.proc_status_field(proc.pid, "SigCgt"),
            "SigBlk": pyitest.proc_status_field(proc.pid, "SigBlk"),
            "timers": pyitest.proc_timers(proc.pid),
            "agent mapped": pyitest.proc_maps_mention(proc.pid, "libpyinstr.so"),
        }
    finally:
        pyitest.kill_quietly(proc)
        proc.communicate()
    return facts


def main():
    t = pyitest.Test(__doc__)
    n = 0
    for argv, stdin in COMMANDS:
        if not shutil.which(argv[0]):
            print("note: %s is not installed, not tried" % argv[0])
            continue
        for agent_vars in ({}, {"PYINSTR_OUTPUT": t.path("never-%p.prof")},
                           {"PYINSTR_INTERVAL": "fast", "PYINSTR_MAX_DEPTH": "-1",
                            "PYINSTR_QUIET": "maybe", "PYINSTR_INTERVALL": "1ms"}):
            n += 1
            run_pair(t, argv, stdin, agent_vars, n)
    t.check(not t.profiles(), "no profile anywhere", "none", t.profiles())

    bare = look_at_sleep(t, t.env(profile=False))
    agent = look_at_sleep(t, t.env())
    t.note("sleep bare: %s\nsleep under the agent: %s" % (bare, agent))
    t.check(agent["agent mapped"] is True,
            "the agent really is loaded into sleep (else this test proves nothing)",
            "libpyinstr.so in /proc/PID/maps", agent["agent mapped"])
    t.check(agent["threads"] == bare["threads"] == 1, "no extra thread", "1 thread",
            agent["threads"])
    for key in ("SigCgt", "SigBlk", "timers"):
        t.check(agent[key] == bare[key], "no signal handler, blocked signal or timer (%s)" % key,
                repr(bare[key]), repr(agent[key]))
    t.passed("%d command runs identical" % n)


main()
