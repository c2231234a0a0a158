"""A C program that links libpython: one that never starts the interpreter (as perf does, which
links it for its scripts) runs byte-identically under the agent and gets no file and no
output; one that starts it late (Py_Initialize after 0.3 s of C) gets a profile with its
Python work."""
import os
import subprocess

import pyitest

EMBED_C = r"""
#include <stdio.h>
#include <string.h>
#include <time.h>

/* libpython's API, declared here: the test builds without Python's headers. */
extern void Py_Initialize(void);
extern int PyRun_SimpleString(const char *command);
extern int Py_FinalizeEx(void);

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	volatile unsigned long sink = 0;
	double end = now() + 0.3;
	while (now() < end)
		for (int i = 0; i < 10000; i++)
			sink += i;
	printf("C part done\n");
	fprintf(stderr, "a line on stderr\n");
	if (argc < 2 || strcmp(argv[1], "start") != 0)
		return 3;
	fflush(stdout);
	Py_Initialize();
	int rc = PyRun_SimpleString(
		"import time\n"
		"def embedded_work(seconds):\n"
		"    end = time.perf_counter() + seconds\n"
		"    while time.perf_counter() < end:\n"
		"        pass\n"
		"embedded_work(0.6)\n"
		"print('Python part done', flush=True)\n");
	return Py_FinalizeEx() == 0 && rc == 0 ? 0 : 1;
}
"""

FIND_LIBPYTHON = r"""
import os, sysconfig
v = sysconfig.get_config_var
names = [v("INSTSONAME"), v("LDLIBRARY")]
dirs = [v("LIBDIR"), os.path.join(v("LIBDIR") or "", v("MULTIARCH") or "")]
for d in dirs:
    for n in names:
        if d and n and n.endswith((".so", ".so.1.0")) and os.path.exists(os.path.join(d, n)):
            print(os.path.join(d, n))
            raise SystemExit
"""


def build_embedder(t):
    found = subprocess.run([t.python, "-c", FIND_LIBPYTHON], stdout=subprocess.PIPE,
                           env=pyitest.clean_environ()).stdout.decode().strip()
    if not found:
        t.skip("%s has no shared libpython to link a C program against" % t.python)
    source, program = t.path("embed.c"), t.path("embed")
    with open(source, "w") as f:
        f.write(EMBED_C)
    cc = subprocess.run(["cc", "-O1", "-o", program, source, found,
                         "-Wl,-rpath," + os.path.dirname(found)],
                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    t.check(cc.returncode == 0, "the embedding program builds against %s" % found,
            "cc exits 0", cc.stdout.decode("utf-8", "replace"))
    return program, found


def main():
    t = pyitest.Test(__doc__)
    program, libpython = build_embedder(t)
    t.note("embedding program linked against %s" % libpython)

    # Never started: nothing happens.
    bare = t.run([program], env=t.env(profile=False), cwd=t.subdir("never-bare"))
    t.check(bare.returncode == 3 and bare.out == "C part done\n", "the bare program runs",
            "exit 3, 'C part done'", repr((bare.returncode, bare.out)))
    for agent_vars in ({}, {"PYINSTR_INTERVAL": "100us"}):
        d = t.subdir("never-%d" % len(agent_vars))
        env = t.env(outdir=d, **agent_vars)
        env.pop("PYINSTR_OUTPUT")  # the default, in the working directory
        r = t.run([program], env=env, cwd=d)
        t.check((r.returncode, r.stdout, r.stderr) == (bare.returncode, bare.stdout, bare.stderr),
                "never started: exit status, stdout and stderr byte-identical",
                repr((bare.returncode, bare.out, bare.err)), repr((r.returncode, r.out, r.err)))
        t.check(os.listdir(d) == [], "never started: no file is created", [], os.listdir(d))

    # Started late: profiled from then on.
    bare = t.run([program, "start"], env=t.env(profile=False), cwd=t.subdir("start-bare"))
    t.check(bare.returncode == 0 and "Python part done" in bare.out,
            "the bare program starts Python", "exit 0", repr((bare.returncode, bare.out, bare.err)))
    d = t.subdir("start")
    r = t.run([program, "start"], env=t.env(outdir=d), cwd=d)
    t.check(r.returncode == 0 and r.stdout == bare.stdout,
            "started late: exit status and stdout unchanged", repr((0, bare.out)),
            repr((r.returncode, r.out)))
    lines = r.err.splitlines()
    t.check(lines[:-1] == bare.err.splitlines() and lines[-1].startswith("pyinstr: "),
            "started late: stderr unchanged but for the exit line", repr(bare.err), repr(r.err))
    prof = t.only_profile(d)
    c = t.collapsed(prof)
    work = c.inclusive("embedded_work")
    # 0.6 s of the Python part's ~0.65 s; the C part before it has no Python to show.
    t.check(450 <= work <= 700 and work >= 0.8 * c.total,
            "started late: the Python work is sampled, and only that part of the run",
            "embedded_work 450-700 ms and >= 80% of the profile",
            "%.0f ms of %.0f" % (work, c.total))
    t.passed("never started: no file; started late: embedded_work %.0f ms of %.0f" %
             (work, c.total))


main()
