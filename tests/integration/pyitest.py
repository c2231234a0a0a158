"""pyitest: what every integration test shares.

A test is a script run as `python3 test_<name>.py --python PATH --build DIR` by run.py (or by
hand). It runs programs under the agent with `t.run(...)`, reads the profiles they wrote with
`t.collapsed(path)` (through `pyinstr-report --format collapsed`) or `read_profile(path)` (the
file itself, per docs/FORMAT.md), and ends with `t.passed()`, `t.skip(why)` or `t.fail(...)`.
Exit status: 0 pass, 77 skip, anything else fail.

The driver's own interpreter is never profiled: LD_PRELOAD is set only in the environment of
the children this module starts. Works on any Python 3.6+ (the driver may be old).
"""

import argparse
import glob
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
WORKLOADS = os.path.join(HERE, "workloads")

EXIT_PASS = 0
EXIT_FAIL = 1
EXIT_SKIP = 77

MAGIC = b"PYINSTR\x1a"

REC_INFO, REC_CODE, REC_THREAD, REC_SAMPLE, REC_COUNTERS, REC_END = 1, 2, 3, 4, 5, 6
FLAG_TRUNCATED, FLAG_REPEAT, FLAG_PARTIAL = 1, 2, 4
END_EXIT, END_UNDERSCORE_EXIT, END_EXEC, END_API_STOP = 0, 1, 2, 3
END_NAMES = {0: "exit", 1: "_exit", 2: "exec", 3: "api-stop"}

# Every variable the agent reads; children start with none of them set unless a test sets it.
AGENT_VARS = ("PYINSTR_OUTPUT", "PYINSTR_INTERVAL", "PYINSTR_MAX_DEPTH", "PYINSTR_BUFFER",
              "PYINSTR_QUIET", "PYINSTR_ENABLED")


class Failure(Exception):
    """Raised by check(); the test ends as failed with this message."""


# ---------------------------------------------------------------------------------------------
# Running programs


class Run:
    """What one child process did: argv, exit status, output, and how long it took."""

    def __init__(self, argv, returncode, stdout, stderr, seconds, pid, env_shown):
        self.argv = argv
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        self.seconds = seconds
        self.pid = pid
        self.env_shown = env_shown

    @property
    def out(self):
        return self.stdout.decode("utf-8", "replace")

    @property
    def err(self):
        return self.stderr.decode("utf-8", "replace")

    def describe(self):
        lines = ["$ %s%s" % (self.env_shown, " ".join(self.argv)),
                 "exit status %s after %.2f s, pid %s" % (self.returncode, self.seconds, self.pid)]
        lines.append("--- stdout (%d bytes)" % len(self.stdout))
        lines.append(clip(self.out))
        lines.append("--- stderr (%d bytes)" % len(self.stderr))
        lines.append(clip(self.err))
        return "\n".join(lines)


def clip(text, limit=4000):
    if len(text) <= limit:
        return text
    return text[:limit // 2] + "\n[... %d characters cut ...]\n" % (len(text) - limit) + \
        text[-limit // 2:]


def clean_environ():
    """The driver's environment without anything that would change a child's behaviour."""
    env = dict(os.environ)
    for name in list(env):
        if name.startswith("PYINSTR_") or name in ("LD_PRELOAD", "PYTHONSTARTUP",
                                                   "PYTHONWARNINGS", "PYTHONHOME",
                                                   "PYTHONPATH", "PYTHONINSPECT"):
            del env[name]
    # __pycache__ writes would make a first run differ from a second one.
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.pop("PYTHONUNBUFFERED", None)
    return env


# ---------------------------------------------------------------------------------------------
# The collapsed report


class Frame:
    __slots__ = ("qualname", "file", "line", "text")

    def __init__(self, text):
        self.text = text
        m = re.match(r"^(.*) \((.*):(-?\d+)\)$", text)
        if m:
            self.qualname, self.file, self.line = m.group(1), m.group(2), int(m.group(3))
        else:
            # Not a Python frame as the format defines one (a marker the report may add, such
            # as one for a truncated root end): kept whole so tests can see it.
            self.qualname, self.file, self.line = text, None, None

    def is_python(self):
        return self.file is not None

    def matches(self, name, file=None):
        """name is a qualname or its last part: `run_forever` matches both `run_forever`
        (co_name, 3.8-3.10) and `BaseEventLoop.run_forever` (co_qualname, 3.11+)."""
        if self.qualname != name and not self.qualname.endswith("." + name):
            return False
        return file is None or (self.file is not None and os.path.basename(self.file) == file)

    def __repr__(self):
        return self.text


class Collapsed:
    """A parsed `pyinstr-report --format collapsed` output: stacks root first, each with its
    weight, converted from the report's microseconds to milliseconds (at the default 1 ms
    interval, about one sample's worth of a running thread per unit)."""

    def __init__(self, text):
        self.text = text
        self.stacks = []  # [(frames root first, count)]
        self.bad_lines = []
        for line in text.splitlines():
            if not line.strip():
                continue
            stack, sep, count = line.rpartition(" ")
            if not sep or not count.isdigit() or not stack:
                self.bad_lines.append(line)
                continue
            self.stacks.append(([Frame(f) for f in stack.split(";")], int(count) / 1000.0))
        self.total = sum(c for _, c in self.stacks)

    def _count(self, pred):
        return sum(c for frames, c in self.stacks if pred(frames))

    def inclusive(self, name, file=None):
        """Milliseconds in stacks that contain name anywhere (each stack counted once)."""
        return self._count(lambda fs: any(f.matches(name, file) for f in fs))

    def self_count(self, name, file=None):
        """Milliseconds in stacks whose leaf frame is name."""
        return self._count(lambda fs: fs[-1].matches(name, file))

    def inclusive_share(self, name, file=None):
        return self.inclusive(name, file) / self.total if self.total else 0.0

    def self_share(self, name, file=None):
        return self.self_count(name, file) / self.total if self.total else 0.0

    def stacks_with(self, name, file=None):
        return [(fs, c) for fs, c in self.stacks if any(f.matches(name, file) for f in fs)]

    def has_path(self, names):
        """Milliseconds in stacks that contain the frames `names` in this order, each one directly
        called by the previous one (adjacent frames, root to leaf)."""
        n = len(names)

        def pred(fs):
            for i in range(len(fs) - n + 1):
                if all(fs[i + k].matches(names[k]) for k in range(n)):
                    return True
            return False
        return self._count(pred)

    def summary(self, names):
        return ", ".join("%s %.1f%% (self %.1f%%)" % (n, 100 * self.inclusive_share(n),
                                                     100 * self.self_share(n)) for n in names)


# ---------------------------------------------------------------------------------------------
# The profile file itself (docs/FORMAT.md), for what the collapsed view does not show:
# completeness (END), counters, flags, INFO, threads.


class Profile:
    def __init__(self, path):
        self.path = path
        self.pid = None
        self.major = self.minor = None
        self.info = {}
        self.codes = {}      # id -> (qualname, filename, first_line)
        self.threads = {}    # id -> (native tid, name)
        self.samples = 0
        self.wall_ns = 0     # summed over samples, all threads
        self.cpu_ns = 0
        self.flag_counts = {FLAG_TRUNCATED: 0, FLAG_REPEAT: 0, FLAG_PARTIAL: 0}
        self.max_depth_seen = 0
        self.last_sample_ns = 0   # time of the latest sample, ns since the session start
        self.sample_threads = {}  # thread id -> samples
        self.thread_wall_ns = {}  # thread id -> wall time summed over its samples
        self.thread_cpu_ns = {}   # thread id -> CPU time likewise
        self.counters = {}
        self.end_reason = None
        self.ends = 0
        self.records = 0
        self.truncated_tail = False
        self.error = None

    @property
    def complete(self):
        return self.error is None and not self.truncated_tail and self.end_reason is not None

    def code_names(self):
        return set(q for q, _, _ in self.codes.values())

    def has_code(self, name):
        return any(Frame("%s (x:1)" % q).matches(name) for q in self.code_names())

    def describe(self):
        return ("%s: pid %s, %d records, %d samples (truncated %d, repeat %d, partial %d), "
                "last at %.3f s, %d threads, %d codes, END %s%s%s, counters %s, info %s" % (
                    self.path, self.pid, self.records, self.samples,
                    self.flag_counts[FLAG_TRUNCATED], self.flag_counts[FLAG_REPEAT],
                    self.flag_counts[FLAG_PARTIAL], self.last_sample_ns / 1e9,
                    len(self.threads), len(self.codes),
                    END_NAMES.get(self.end_reason, self.end_reason),
                    ", truncated tail" if self.truncated_tail else "",
                    ", ERROR " + self.error if self.error else "",
                    self.counters, {k: v for k, v in self.info.items() if k != "argv"}))


def is_profile(path):
    try:
        with open(path, "rb") as f:
            return f.read(8) == MAGIC
    except OSError:
        return False


def agent_wakeups(t, r):
    """The rate printed by a workload that counts the agent's wake-ups (workloads/agentwake.py),
    checking that it ran and found the agent's threads."""
    m = re.search(r"AGENT-WAKEUPS max=(\d+) \((\d+) threads\)", r.out)
    t.check(r.returncode == 0 and m is not None, "the workload runs",
            "exit 0 and an AGENT-WAKEUPS line", "exit %s, %r" % (r.returncode, r.out))
    rate, threads = int(m.group(1)), int(m.group(2))
    t.check(threads >= 2, "the agent's threads are found beside the program's", ">= 2", threads)
    return rate


def ticklocked_errors(t, run, prof, names, tolerance):
    """For a run of workloads/ticklocked.py: the functions whose share of all the time in the
    profile is more than tolerance points from the truth the run printed, as messages, and a
    summary of the shares."""
    truth = dict(kv.split("=") for kv in run.out.split()[1:])
    c = t.collapsed(prof)
    errors = []
    for name in names:
        measured = 100.0 * float(truth[name])
        got = 100.0 * c.inclusive_share(name, "ticklocked.py")
        if abs(got - measured) > tolerance:
            errors.append("%s: %.1f%% of all the time, truth %.1f%%" % (name, got, measured))
    return errors, "%s of %d ms (%s)" % (c.summary(names), c.total, run.out.strip())


def read_profile(path):
    """Parses a profile file following docs/FORMAT.md. Never raises for bad content: sets
    .error (corrupt) or .truncated_tail instead. When run.py asks for it ($PYITEST_COUNTERS),
    the file's counters are appended there, so the run can total what was lost."""
    p = _read_profile(path)
    tally = os.environ.get("PYITEST_COUNTERS")
    if tally and p.counters:
        line = json.dumps({"path": os.path.realpath(path), "counters": p.counters}) + "\n"
        fd = os.open(tally, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)
    return p


def _read_profile(path):
    p = Profile(path)
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 32 or data[:8] != MAGIC:
        p.error = "not a pyinstr profile (%d bytes)" % len(data)
        return p
    p.major, p.minor, header_size, p.pid = struct.unpack_from("<HHII", data, 8)
    pos = header_size
    while pos < len(data):
        if pos + 8 > len(data):
            p.truncated_tail = True
            break
        rtype, _, length = struct.unpack_from("<HHI", data, pos)
        if length > (1 << 20):
            p.error = "record at %d has length %d" % (pos, length)
            break
        if pos + 8 + length > len(data):
            p.truncated_tail = True
            break
        body = data[pos + 8:pos + 8 + length]
        try:
            parse_record(p, rtype, body)
        except (struct.error, IndexError, ValueError) as e:
            p.error = "bad record type %d at offset %d: %s" % (rtype, pos, e)
            break
        p.records += 1
        pos += 8 + length
    return p


def parse_record(p, rtype, b):
    if rtype == REC_INFO:
        i = 0
        while i < len(b):
            (klen,) = struct.unpack_from("<H", b, i)
            key = b[i + 2:i + 2 + klen].decode("utf-8", "replace")
            i += 2 + klen
            (vlen,) = struct.unpack_from("<I", b, i)
            p.info[key] = b[i + 4:i + 4 + vlen].decode("utf-8", "replace")
            i += 4 + vlen
    elif rtype == REC_CODE:
        code_id, first = struct.unpack_from("<Ii", b, 0)
        (qlen,) = struct.unpack_from("<H", b, 8)
        q = b[10:10 + qlen].decode("utf-8", "replace")
        (flen,) = struct.unpack_from("<H", b, 10 + qlen)
        fn = b[12 + qlen:12 + qlen + flen].decode("utf-8", "replace")
        p.codes[code_id] = (q, fn, first)
    elif rtype == REC_THREAD:
        tid, native = struct.unpack_from("<IQ", b, 0)
        (nlen,) = struct.unpack_from("<H", b, 12)
        name = b[14:14 + nlen].decode("utf-8", "replace")
        old = p.threads.get(tid)
        p.threads[tid] = (native, name or (old[1] if old else ""))
    elif rtype == REC_SAMPLE:
        tid, when, wall, cpu, flags, depth = struct.unpack_from("<IQQQHH", b, 0)
        if 32 + 8 * depth != len(b):
            raise ValueError("depth %d but %d payload bytes" % (depth, len(b)))
        p.samples += 1
        p.wall_ns += wall
        p.cpu_ns += cpu
        p.last_sample_ns = max(p.last_sample_ns, when)
        p.sample_threads[tid] = p.sample_threads.get(tid, 0) + 1
        p.thread_wall_ns[tid] = p.thread_wall_ns.get(tid, 0) + wall
        p.thread_cpu_ns[tid] = p.thread_cpu_ns.get(tid, 0) + cpu
        for bit in p.flag_counts:
            if flags & bit:
                p.flag_counts[bit] += 1
        p.max_depth_seen = max(p.max_depth_seen, depth)
    elif rtype == REC_COUNTERS:
        i = 0
        while i < len(b):
            (klen,) = struct.unpack_from("<H", b, i)
            key = b[i + 2:i + 2 + klen].decode("utf-8", "replace")
            (val,) = struct.unpack_from("<Q", b, i + 2 + klen)
            p.counters[key] = val
            i += 10 + klen
    elif rtype == REC_END:
        _t, reason = struct.unpack_from("<QI", b, 0)
        p.end_reason = reason
        p.ends += 1


# ---------------------------------------------------------------------------------------------
# The test context


class Test:
    def __init__(self, description):
        ap = argparse.ArgumentParser(description=description)
        ap.add_argument("--python", required=True,
                        help="interpreter to profile, or 'none' for a test that needs none")
        ap.add_argument("--build", default="build", help="build directory (libpyinstr.so)")
        ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
        args = ap.parse_args()
        self.name = os.path.splitext(os.path.basename(sys.argv[0]))[0]
        self.python = None if args.python == "none" else os.path.abspath(args.python)
        self.build = os.path.abspath(args.build)
        self.lib = os.path.join(self.build, "libpyinstr.so")
        self.report_bin = os.path.join(self.build, "pyinstr-report")
        self.keep = args.keep
        self.tmp = tempfile.mkdtemp(prefix="pyitest-%s-" % self.name)
        self.log = []  # runs and reports shown when the test fails
        for path in (self.lib, self.report_bin):
            if not os.path.exists(path):
                self.fail("%s does not exist: build first (make B=%s)" % (path, args.build))
        if self.python is not None and not os.access(self.python, os.X_OK):
            self.fail("interpreter %s is not executable" % self.python)
        self._version = None

    # -- outcome ------------------------------------------------------------------------------

    def _cleanup(self):
        if not self.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def passed(self, note=""):
        print("ok: %s%s" % (self.name, (": " + note) if note else ""))
        self._cleanup()
        sys.exit(EXIT_PASS)

    def skip(self, why):
        print("SKIP: %s: %s" % (self.name, why))
        self._cleanup()
        sys.exit(EXIT_SKIP)

    def fail(self, what, expected=None, seen=None):
        out = ["FAIL: %s (python %s): %s" % (self.name, self.python, what)]
        if expected is not None:
            out.append("  expected: %s" % expected)
        if seen is not None:
            out.append("  seen:     %s" % seen)
        if self.log:
            out.append("--- what the test ran and read (latest last):")
            out.extend(self.log[-8:])
        out.append("--- temporary files kept in %s" % self.tmp)
        print("\n".join(out))
        sys.stdout.flush()
        sys.exit(EXIT_FAIL)

    def check(self, cond, what, expected=None, seen=None):
        if not cond:
            self.fail(what, expected, seen)

    def note(self, text):
        self.log.append(text)

    # -- facts --------------------------------------------------------------------------------

    def version(self):
        """(major, minor) of the interpreter under test."""
        if self._version is None:
            out = subprocess.run([self.python, "-c",
                                  "import sys; print('%d %d' % sys.version_info[:2])"],
                                 stdout=subprocess.PIPE, env=clean_environ(), check=True)
            self._version = tuple(int(x) for x in out.stdout.split())
        return self._version

    def workload(self, name):
        return os.path.join(WORKLOADS, name)

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    # -- running ------------------------------------------------------------------------------

    def subdir(self, name):
        """A fresh directory under the temporary one."""
        d = self.path(name)
        os.makedirs(d)
        return d

    def env(self, profile=True, outdir=None, **agent_vars):
        """A child's environment. profile=True preloads the agent and, unless the test gives
        PYINSTR_OUTPUT, points it at <outdir or tmp>/out-%p.prof. agent_vars set PYINSTR_*
        variables (None removes one)."""
        env = clean_environ()
        if profile:
            env["LD_PRELOAD"] = self.lib
            env["PYINSTR_OUTPUT"] = os.path.join(outdir or self.tmp, "out-%p.prof")
        for k, v in agent_vars.items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = str(v)
        return env

    def start(self, argv, env, cwd=None, stdin=subprocess.DEVNULL):
        return subprocess.Popen(argv, env=env, cwd=cwd or self.tmp, stdin=stdin,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def run(self, argv, env=None, cwd=None, timeout=40, input=None, log=True):
        """Runs argv to completion; returns a Run. env defaults to self.env()."""
        if env is None:
            env = self.env()
        shown = " ".join("%s=%s" % (k, env[k]) for k in sorted(env)
                         if k.startswith("PYINSTR_") or k == "LD_PRELOAD")
        t0 = time.monotonic()
        proc = subprocess.Popen(argv, env=env, cwd=cwd or self.tmp,
                                stdin=subprocess.PIPE if input is not None else
                                subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True)
        try:
            out, err = proc.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            # The whole group: a hung grandchild (a fork child) would otherwise keep the
            # pipes open, and the test would hang instead of failing.
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                proc.kill()
            out, err = proc.communicate()
            r = Run(argv, "timeout", out, err, time.monotonic() - t0, proc.pid,
                    shown + " " if shown else "")
            self.note(r.describe())
            self.fail("%s did not finish within %d s" % (" ".join(argv), timeout))
        r = Run(argv, proc.returncode, out, err, time.monotonic() - t0, proc.pid,
                shown + " " if shown else "")
        if log:
            self.note(r.describe())
        return r

    def run_py(self, script, *args, **kw):
        """Runs a workload (name under workloads/, or a path) with the interpreter under test."""
        path = script if os.path.isabs(script) else self.workload(script)
        return self.run([self.python, path] + list(args), **kw)

    # -- profiles -----------------------------------------------------------------------------

    def profiles(self, directory=None):
        """Every profile file (by magic) in directory (default: the temporary directory)."""
        d = directory or self.tmp
        return sorted(p for p in glob.glob(os.path.join(d, "*")) if is_profile(p))

    def only_profile(self, directory=None):
        found = self.profiles(directory)
        self.check(len(found) == 1, "exactly one profile file is written",
                   "1 file in %s" % (directory or self.tmp),
                   "%d: %s" % (len(found), sorted(os.listdir(directory or self.tmp))))
        return found[0]

    def report(self, path, *options):
        """Runs pyinstr-report options... path; returns the Run (not checked)."""
        return self.run([self.report_bin] + list(options) + [path], env=clean_environ(),
                        log=False)

    def collapsed(self, path, expect_warning=False, metric="wall"):
        """Collapsed stacks of path (wall or cpu time), checking that pyinstr-report succeeds
        (and, if asked, that it warns). The text report is kept in the log so a failure
        shows it."""
        text = self.report(path)
        self.note("--- pyinstr-report %s (exit %s)\n%s\n%s" % (path, text.returncode,
                                                               clip(text.out, 6000),
                                                               clip(text.err)))
        self.note("--- profile file: " + read_profile(path).describe())
        r = self.report(path, "--format", "collapsed", "--metric", metric)
        self.check(r.returncode == 0, "pyinstr-report --format collapsed %s succeeds" % path,
                   "exit status 0", "exit status %s, stderr %r" % (r.returncode, r.err))
        if expect_warning:
            self.check("warning" in r.err, "pyinstr-report warns about this profile",
                       "a warning on stderr", repr(r.err))
        c = Collapsed(r.out)
        c.stderr = r.err
        self.check(not c.bad_lines, "every collapsed line is `frames COUNT`",
                   "no malformed lines", c.bad_lines[:3])
        return c


def proc_task_count(pid):
    try:
        return len(os.listdir("/proc/%d/task" % pid))
    except OSError:
        return None


def proc_status_field(pid, field):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def proc_maps_mention(pid, needle):
    try:
        with open("/proc/%d/maps" % pid) as f:
            return any(needle in line for line in f)
    except OSError:
        return None


def proc_timers(pid):
    try:
        with open("/proc/%d/timers" % pid) as f:
            return f.read()
    except OSError:
        return None


def kill_quietly(proc):
    try:
        proc.send_signal(signal.SIGKILL)
    except OSError:
        pass
