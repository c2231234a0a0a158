#!/usr/bin/env python3
"""Runs every integration test against every CPython on this machine.

    python3 tests/integration/run.py --build build [--python PATH] [--test NAME] [-j 2]

Interpreters: pyenv's 3.8 to 3.13 (the newest patch release of each, under `pyenv root`, else
$PYENV_ROOT, else ~/.pyenv) and Debian's /usr/bin/python3.11 (static libpython). Each one that
is missing is printed as SKIPPED with the reason and its tests count as skipped, never passed.

Tests: every tests/integration/test_*.py, run as `<this python> test_x.py --python PATH --build
DIR`; exit 0 pass, 77 skip, anything else fail. A test that does not depend on the interpreter
says so with a line `# pyitest: python=none` near its top; it runs once with `--python none`.
At most -j tests run at once (2 by default: two cores), each with a time limit. A test that
measures accuracy says `# pyitest: exclusive` and runs alone, after the others, so that the
suite's own load does not skew it. The last line is `integration: N passed, N failed,
N skipped`; the exit status is 1 if any test failed.

This driver is never profiled itself: only the tests' children get LD_PRELOAD.
"""

import argparse
import concurrent.futures
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
EXPECTED_MINORS = (8, 9, 10, 11, 12, 13)
DEBIAN_PYTHON = "/usr/bin/python3.11"
EXIT_SKIP = 77


def pyenv_root():
    if shutil.which("pyenv"):
        try:
            out = subprocess.run(["pyenv", "root"], stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, timeout=20, check=True,
                                 env=child_env())
            root = out.stdout.decode().strip()
            if root:
                return root, "pyenv root"
        except (OSError, subprocess.SubprocessError):
            pass
    if os.environ.get("PYENV_ROOT"):
        return os.environ["PYENV_ROOT"], "$PYENV_ROOT"
    return os.path.expanduser("~/.pyenv"), "~/.pyenv"


def child_env():
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    return env


def probe_version(path):
    """(major, minor, micro) the interpreter says it is, or None."""
    try:
        out = subprocess.run([path, "-c", "import sys; print('%d %d %d' % sys.version_info[:3])"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=20,
                             env=child_env())
    except (OSError, subprocess.SubprocessError):
        return None
    parts = out.stdout.split()
    if out.returncode != 0 or len(parts) != 3:
        return None
    return tuple(int(p) for p in parts)


def discover_interpreters():
    """[(label, path or None, why it is missing)] in the expected order."""
    root, how = pyenv_root()
    found = []
    for minor in EXPECTED_MINORS:
        label = "3.%d" % minor
        candidates = []
        for d in glob.glob(os.path.join(root, "versions", "3.%d.*" % minor)):
            m = re.match(r"^3\.%d\.(\d+)$" % minor, os.path.basename(d))
            exe = os.path.join(d, "bin", "python3")
            if m and os.access(exe, os.X_OK):
                candidates.append((int(m.group(1)), exe))
        if not candidates:
            found.append((label, None, "no %s/versions/3.%d.<patch>/bin/python3 (pyenv root from "
                          "%s)" % (root, minor, how)))
            continue
        exe = max(candidates)[1]
        v = probe_version(exe)
        if v is None or v[:2] != (3, minor):
            found.append((label, None, "%s does not run as CPython 3.%d (says %s)" %
                          (exe, minor, v)))
        else:
            found.append((label, exe, None))
    v = probe_version(DEBIAN_PYTHON) if os.access(DEBIAN_PYTHON, os.X_OK) else None
    if v is None:
        found.append(("debian-3.11", None, "%s is not installed (apt-get install python3 on "
                      "Debian 12)" % DEBIAN_PYTHON))
    elif v[:2] != (3, 11):
        found.append(("debian-3.11", None, "%s says it is %s" % (DEBIAN_PYTHON, v)))
    else:
        found.append(("debian-3.11", DEBIAN_PYTHON, None))
    return found


def markers(test_path):
    """The `# pyitest: WORD` lines near the top of a test."""
    found = set()
    with open(test_path, encoding="utf-8", errors="replace") as f:
        for i, line in enumerate(f):
            if i > 40:
                break
            m = re.match(r"^#\s*pyitest:\s*(\S+)\s*$", line)
            if m:
                found.add(m.group(1))
    return found


def run_one(test_path, python, build, timeout, tally):
    """(status, seconds, output) with status 'PASS', 'FAIL' or 'SKIP'."""
    argv = [sys.executable, test_path, "--python", python or "none", "--build", build]
    env = child_env()
    env["PYITEST_COUNTERS"] = tally
    t0 = time.monotonic()
    # Its own session, so a timeout kills the test and every program it started.
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, env=env, cwd=HERE,
                            start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
        rc = proc.returncode
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        out, _ = proc.communicate()
        out += b"\n[run.py: killed after the %d s time limit]\n" % timeout
        rc = "timeout"
    seconds = time.monotonic() - t0
    text = out.decode("utf-8", "replace")
    if rc == 0:
        return "PASS", seconds, text
    if rc == EXIT_SKIP:
        return "SKIP", seconds, text
    if rc != "timeout":
        text += "\n[run.py: exit status %s]\n" % rc
    return "FAIL", seconds, text


LOSS_COUNTERS = ("dropped_ring_full", "abandoned_fault", "unknown_frames", "intern_full",
                 "truncated")


def print_tally(tally):
    """One line: what the profiles the tests read say was lost (docs/FORMAT.md COUNTERS)."""
    latest = {}
    try:
        with open(tally) as f:
            for line in f:
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                latest[entry["path"]] = entry["counters"]
    except OSError:
        pass
    total = {}
    for counters in latest.values():
        for k, v in counters.items():
            total[k] = total.get(k, 0) + v
    shown = ", ".join("%s %d" % (k, total.get(k, 0)) for k in ("samples",) + LOSS_COUNTERS)
    print("counters over the %d profiles the tests read: %s (the recursion test asks for "
          "truncated stacks)" % (len(latest), shown))


def last_line(text):
    lines = [l for l in text.strip().splitlines() if l.strip()]
    return lines[-1] if lines else ""


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build", help="build directory (default build)")
    ap.add_argument("--python", action="append",
                    help="run only with this interpreter (repeatable); default: discover")
    ap.add_argument("--test", action="append",
                    help="run only this test, e.g. test_split (repeatable)")
    ap.add_argument("-j", "--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=int, default=60, help="seconds per test (default 60)")
    ap.add_argument("-v", "--verbose", action="store_true", help="show output of passing tests")
    args = ap.parse_args()

    build = os.path.abspath(args.build)
    for need in ("libpyinstr.so", "pyinstr-report"):
        if not os.path.exists(os.path.join(build, need)):
            print("integration: %s/%s is missing: run make first" % (build, need))
            print("integration: 0 passed, 1 failed, 0 skipped")
            return 1

    if args.python:
        interpreters = []
        for p in args.python:
            v = probe_version(p)
            if v is None:
                interpreters.append((p, None, "%s does not run" % p))
            else:
                interpreters.append(("%d.%d" % v[:2], os.path.abspath(p), None))
    else:
        interpreters = discover_interpreters()

    tests = sorted(glob.glob(os.path.join(HERE, "test_*.py")))
    if args.test:
        wanted = set(t if t.startswith("test_") else "test_" + t for t in args.test)
        wanted = set(os.path.splitext(t)[0] for t in wanted)
        tests = [t for t in tests if os.path.splitext(os.path.basename(t))[0] in wanted]
        if not tests:
            print("integration: no test named %s" % ", ".join(sorted(wanted)))
            print("integration: 0 passed, 1 failed, 0 skipped")
            return 1

    print("integration: build %s, driver %s (%s)" % (build, sys.executable,
                                                    sys.version.split()[0]))
    for label, path, why in interpreters:
        if path:
            print("  interpreter %-12s %s" % (label, path))
        else:
            print("  SKIPPED interpreter %s: %s" % (label, why))

    jobs = []        # (test path, test name, label, python path or None)
    alone = []       # the same, for tests that run one at a time
    skipped = []     # (test name, label, reason)
    for t in tests:
        name = os.path.splitext(os.path.basename(t))[0]
        marks = markers(t)
        queue = alone if "exclusive" in marks else jobs
        if "python=none" in marks:
            queue.append((t, name, "-", None))
            continue
        for label, path, why in interpreters:
            if path:
                queue.append((t, name, label, path))
            else:
                skipped.append((name, label, "interpreter missing: " + why))

    tally_fd, tally = tempfile.mkstemp(prefix="pyitest-counters-", suffix=".jsonl")
    os.close(tally_fd)
    counts = {"PASS": 0, "FAIL": 0, "SKIP": 0}
    lock = threading.Lock()
    width = max([len(j[1]) for j in jobs + alone] + [10])

    def show(status, name, label, seconds, text):
        with lock:
            counts[status] += 1
            tail = ""
            if status == "SKIP":
                tail = "  " + last_line(text)
            print("%-4s %-*s %-12s %6.1fs%s" % (status, width, name, label, seconds, tail))
            if status == "FAIL" or (args.verbose and text.strip()):
                print("  | " + text.rstrip().replace("\n", "\n  | "))
            sys.stdout.flush()

    for name, label, why in skipped:
        show("SKIP", name, label, 0.0, "SKIPPED: " + why)

    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = {pool.submit(run_one, path, py, build, args.timeout, tally): (name, label)
                   for path, name, label, py in jobs}
        for fut in concurrent.futures.as_completed(futures):
            name, label = futures[fut]
            status, seconds, text = fut.result()
            show(status, name, label, seconds, text)
    for path, name, label, py in alone:
        status, seconds, text = run_one(path, py, build, args.timeout, tally)
        show(status, name, label, seconds, text)

    print_tally(tally)
    os.unlink(tally)
    print("integration: %d passed, %d failed, %d skipped" %
          (counts["PASS"], counts["FAIL"], counts["SKIP"]))
    return 1 if counts["FAIL"] else 0


if __name__ == "__main__":
    sys.exit(main())
