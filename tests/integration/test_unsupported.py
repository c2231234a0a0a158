"""Pythons the agent does not support (2.7, 3.6, 3.7, whichever pyenv has) run as if it were
not there: same stdout and exit status, no file, no extra thread. The agent may say why on one
stderr line starting `pyinstr:`; nothing else is added."""
# pyitest: python=none
import glob
import os
import re
import time

import pyitest

PROGRAM = "import sys; print('hello', sys.version_info[0]); sys.stderr.write('err\\n'); " \
          "sys.exit(4)"


def old_pythons():
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    found = []
    for d in sorted(glob.glob(os.path.join(root, "versions", "*"))):
        m = re.match(r"^(2\.7|3\.[0-7])\.\d+$", os.path.basename(d))
        for exe in ("python3", "python2", "python"):
            path = os.path.join(d, "bin", exe)
            if m and os.access(path, os.X_OK):
                found.append((os.path.basename(d), path))
                break
    return found


def main():
    t = pyitest.Test(__doc__)
    pythons = old_pythons()
    if not pythons:
        t.skip("no unsupported Python (2.7, 3.0-3.7) installed under pyenv")
    for version, exe in pythons:
        bare_dir, agent_dir = t.subdir("bare-" + version), t.subdir("agent-" + version)
        bare = t.run([exe, "-c", PROGRAM], env=t.env(profile=False), cwd=bare_dir)
        env = t.env()
        env.pop("PYINSTR_OUTPUT")
        agent = t.run([exe, "-c", PROGRAM], env=env, cwd=agent_dir)
        t.check(agent.returncode == bare.returncode and agent.stdout == bare.stdout,
                "%s: same exit status and stdout" % version, (bare.returncode, bare.out),
                (agent.returncode, agent.out))
        extra = agent.err.splitlines()
        for line in bare.err.splitlines():
            if line in extra:
                extra.remove(line)
        t.check(len(extra) <= 1 and all(l.startswith("pyinstr:") for l in extra),
                "%s: stderr is the program's own, plus at most one line from pyinstr" % version,
                repr(bare.err), repr(agent.err))
        if extra:
            t.check(version.rsplit(".", 1)[0] in extra[0] or "support" in extra[0],
                    "%s: the line says which version is not supported" % version,
                    "the version or 'supported'", extra[0])
        t.check(os.listdir(agent_dir) == [], "%s: no file" % version, [],
                os.listdir(agent_dir))

        proc = t.start([exe, "-c", "import time; time.sleep(3)"], env)
        try:
            time.sleep(0.7)
            threads = pyitest.proc_task_count(proc.pid)
            mapped = pyitest.proc_maps_mention(proc.pid, "libpyinstr.so")
            timers = pyitest.proc_timers(proc.pid)
        finally:
            pyitest.kill_quietly(proc)
            proc.communicate()
        t.check(mapped is True, "%s: the agent is loaded" % version, True, mapped)
        t.check(threads == 1, "%s: no extra thread" % version, 1, threads)
        t.check(not timers, "%s: no timer" % version, "", repr(timers))
        print("%s: unchanged%s" % (version, (" (said: %s)" % extra[0]) if extra else ""))
    t.passed(", ".join(v for v, _ in pythons))


main()
