"""The loader's frame walker against the interpreter's own view of its stack.

    python3 test_walk.py --python PATH --build DIR

Runs PATH on a workload (this same file, with --child) that loads the test-only probe
library DIR/tests/libpyiprobe.so through ctypes. At each checkpoint the probe runs the loader
on the calling thread (detect once, then tstate + walk + code identity + str reading + line
table decoding) and prints one "qualname|file|line" per frame, leaf first; the workload
compares that with what sys._getframe() says at the same moment (co_qualname or co_name,
co_filename, f_lineno), for every frame.

Checkpoints: plain calls, deep recursion (500 frames, and a walk capped at 5 that must keep
the leaf end and say it was truncated), methods of every kind and dunder methods called from
C, __init__ called often enough to be specialised, closures, lambdas, comprehensions and a
generator expression, generators and yield from, coroutines driven by asyncio (gather of two
tasks), a class body, exception handlers, decorators, callbacks from C (sorted, map), code
whose names and file name are not ASCII (Latin-1, BMP and astral characters), and a nested
function on another thread. Each runs twice: through ctypes.PyDLL (GIL held during the
probe) and ctypes.CDLL (GIL released), and the probe's GIL answer must say which. The tstate
the loader found must be the one PyGILState_GetThisThreadState() returns.

On CPython older than 3.8 the test checks that the loader refuses the interpreter with the
expected message, then exits 77 (skipped). Exit status: 0 pass, 77 skip, anything else fail.
"""

import argparse
import ctypes
import difflib
import os
import subprocess
import sys

EXIT_SKIP = 77
CAP = 1 << 20
TRUNCATED = 1
PARTIAL = 2

# ---------------------------------------------------------------------------------------------
# The workload: runs under the interpreter being tested (3.8+).

LIBS = {}
RESULTS = []  # (label, mode, ok, message)


def frame_lines(frame):
    out = []
    while frame is not None:
        code = frame.f_code
        name = getattr(code, "co_qualname", code.co_name)
        line = frame.f_lineno
        out.append("%s|%s|%d" % (name, code.co_filename, -1 if line is None else line))
        frame = frame.f_back
    return out


def parse_probe(text):
    lines = text.split("\n")
    header = {}
    for item in lines[0].lstrip("#").split():
        key, _, value = item.partition("=")
        header[key] = value
    return header, [l for l in lines[1:] if l]


def record(label, mode, ok, message=""):
    RESULTS.append((label, mode, ok, message))
    return ok


def snap(label, max_frames=-1):
    """Walks this thread's stack with the probe and checks it against sys._getframe()."""
    mode = MODE.current
    lib = LIBS[mode]
    buf = ctypes.create_string_buffer(CAP)
    # Both on one line, so this frame's f_lineno is the line of the probe call.
    n, expected = lib.pyi_probe_stack_max(buf, CAP, max_frames), frame_lines(sys._getframe())
    text = buf.value.decode("utf-8", "replace")
    if n < 0:
        return record(label, mode, False, "probe returned %d: %s" % (n, text))
    header, got = parse_probe(text)
    problems = []
    flags = int(header.get("flags", "-1"))
    if max_frames >= 0 and len(expected) > max_frames:
        expected = expected[:max_frames]
        if not flags & TRUNCATED:
            problems.append("walk capped at %d frames did not report truncation (flags %d)"
                            % (max_frames, flags))
        flags &= ~TRUNCATED
    if flags != 0:
        problems.append("walk flags %d, expected 0" % flags)
    if n != len(got):
        problems.append("probe returned %d but printed %d frames" % (n, len(got)))
    want_gil = "1" if mode == "gil" else "0"
    if header.get("gil") != want_gil:
        problems.append("probe says gil=%s, expected %s (%s)" %
                        (header.get("gil"), want_gil, "PyDLL holds the GIL" if mode == "gil"
                         else "CDLL releases the GIL"))
    bound = GET_THIS_THREAD_STATE()
    if int(header.get("tstate", "0"), 16) != bound:
        problems.append("probe found tstate %s, PyGILState_GetThisThreadState() says %#x" %
                        (header.get("tstate"), bound or 0))
    if got != expected:
        diff = difflib.unified_diff(expected, got, "sys._getframe()", "probe", lineterm="")
        problems.append("stacks differ:\n    " + "\n    ".join(diff))
    return record(label, mode, not problems, "; ".join(problems))


class MODE:
    current = "gil"


# --- scenarios ---

def plain():
    def a():
        return b()

    def b():
        return snap("plain calls")
    return a()


def recursion(n):
    if n == 0:
        snap("recursion 500")
        return snap("recursion capped at 5", max_frames=5)
    return recursion(n - 1)


class Widget:
    def method(self):
        return snap("method")

    @classmethod
    def klass(cls):
        return snap("classmethod")

    @staticmethod
    def static():
        return snap("staticmethod")

    @property
    def prop(self):
        return snap("property")

    def __add__(self, other):
        return snap("__add__ from BINARY_OP")

    def __eq__(self, other):
        snap("__eq__ from list.index")
        return True

    def __call__(self):
        return snap("__call__")

    def __getattr__(self, name):
        return snap("__getattr__")

    __hash__ = object.__hash__


def methods():
    w = Widget()
    w.method()
    Widget.klass()
    Widget.static()
    w.prop
    w + w
    [w].index(Widget())
    w()
    w.missing_attribute


class Plain:
    def __init__(self, last):
        if last:
            snap("__init__ after specialisation")


def incomplete_frames():
    """Checkpoints taken while a frame that has not reached RESUME is on the stack; the
    walker must skip it, as frame.f_back does."""
    # 3.13+ specialise Plain(...) into CALL_ALLOC_AND_ENTER_INIT, which pushes a cleanup
    # shim frame (code "__init__", before its first traceable instruction) under __init__.
    for i in range(100):
        Plain(i == 99)

    # 3.8-3.11 collect garbage inside the allocation that crosses the threshold, so a gc
    # callback runs while with_cells() is still in MAKE_CELL (3.11: before RESUME).
    import gc
    armed = [False]

    def on_gc(phase, info):
        if armed[0] and phase == "start":
            armed[0] = False
            snap("gc callback inside a frame's prologue")

    def with_cells():
        a = b = c = 1

        def inner():
            return a + b + c
        return inner

    old = gc.get_threshold()
    gc.callbacks.append(on_gc)
    try:
        for _ in range(3):
            gc.collect()
            gc.set_threshold(1)
            armed[0] = True
            with_cells()
            gc.set_threshold(*old)
    finally:
        gc.set_threshold(*old)
        gc.callbacks.remove(on_gc)


def closures():
    x = 1

    def outer():
        y = 2

        def inner():
            return snap("closure"), x, y
        return inner()
    return outer()


def lambdas():
    f = (lambda: (lambda: snap("lambda"))())
    return f()


def comprehensions():
    [snap("list comprehension") for _ in range(1)]
    {k: snap("dict comprehension") for k in range(1)}
    {snap("set comprehension") for _ in range(1)}
    list(snap("generator expression") for _ in range(1))


def generators():
    def inner():
        yield snap("generator")

    def outer():
        yield from inner()
    list(outer())
    g = inner()
    next(g)


def coroutines():
    import asyncio

    async def leaf(i):
        await asyncio.sleep(0)
        return snap("coroutine under asyncio")

    async def middle(i):
        return await leaf(i)

    async def top():
        return await asyncio.gather(middle(1), middle(2))
    asyncio.run(top())


def class_body():
    class Body:
        value = snap("class body")
    return Body


def exceptions():
    try:
        raise ValueError("x")
    except ValueError:
        snap("except block")
    finally:
        snap("finally block")


def decorators():
    import functools

    def deco(f):
        @functools.wraps(f)
        def wrapper(*a, **k):
            return f(*a, **k)
        return wrapper

    @deco
    def decorated():
        return snap("decorated function")
    return decorated()


def callbacks_from_c():
    sorted([3, 1, 2], key=lambda v: (snap("sorted key"), v)[1])
    list(map(lambda v: snap("map callback"), [1]))


def non_ascii():
    source = (
        "class \u00dcnicode:\n"
        "    def m\u00e9thode(self, snap):\n"
        "        return snap('non-ASCII names (Latin-1)')\n"
        "def \u51fd\u6570(snap):\n"
        "    return snap('non-ASCII names (BMP)')\n"
        "def \U00020000(snap):\n"
        "    return snap('non-ASCII names (astral)')\n"
    )
    namespace = {}
    filename = "/virtual/caf\u00e9-\u51fd\u6570-\U0001d518.py"
    exec(compile(source, filename, "exec"), namespace)
    getattr(namespace["\u00dcnicode"](), "m\u00e9thode")(snap)
    namespace["\u51fd\u6570"](snap)
    namespace["\U00020000"](snap)


def in_thread():
    import threading

    def thread_main():
        def nested():
            return snap("nested function on another thread")
        nested()
    t = threading.Thread(target=thread_main, name="walker")
    t.start()
    t.join()


SCENARIOS = [plain, lambda: recursion(500), methods, incomplete_frames, closures, lambdas, comprehensions,
             generators, coroutines, class_body, exceptions, decorators, callbacks_from_c,
             non_ascii, in_thread]


def child(probe):
    global GET_THIS_THREAD_STATE
    sys.setrecursionlimit(5000)
    for mode, loader in (("gil", ctypes.PyDLL), ("nogil", ctypes.CDLL)):
        lib = loader(probe)
        lib.pyi_probe_stack_max.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int]
        lib.pyi_probe_stack_max.restype = ctypes.c_int
        lib.pyi_probe_info.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
        lib.pyi_probe_info.restype = ctypes.c_int
        LIBS[mode] = lib
    get = ctypes.pythonapi.PyGILState_GetThisThreadState
    get.restype = ctypes.c_void_p
    get.argtypes = []
    GET_THIS_THREAD_STATE = get

    buf = ctypes.create_string_buffer(CAP)
    status = LIBS["gil"].pyi_probe_info(buf, CAP)
    print("probe info (status %d):\n  %s" % (status, buf.value.decode().strip().replace(
        "\n", "\n  ")))
    if status != 0:
        print("FAIL: the loader did not accept %s" % sys.version.split()[0])
        return 1
    # Where both ways of finding a thread-local answered (3.12+ with an unstripped
    # libpython), they must agree: the accessor decoding is what 3.14+ depends on.
    info = dict(line.split("=", 1) for line in buf.value.decode().splitlines() if "=" in line)
    for key in sorted(info):
        if key.endswith(".accessor"):
            other = info.get(key[:-len("accessor")] + "symtab", "none:")
            if not info[key].startswith("none:") and not other.startswith("none:"):
                record("TLS offset of " + key[:-len(".accessor")], "gil",
                       info[key] == other, "accessor says tp%s, .symtab says tp%s" %
                       (info[key], other))

    for mode in ("gil", "nogil"):
        MODE.current = mode
        for scenario in SCENARIOS:
            scenario()

    failed = [r for r in RESULTS if not r[2]]
    for label, mode, ok, message in RESULTS:
        if not ok:
            print("FAIL %-40s [%s] %s" % (label, mode, message))
    print("%d checkpoints, %d failed (CPython %s)" % (len(RESULTS), len(failed),
                                                      sys.version.split()[0]))
    return 1 if failed or len(RESULTS) < 70 else 0


# ---------------------------------------------------------------------------------------------
# The driver: runs under any Python 3.

REFUSAL_SNIPPET = (
    "import ctypes, sys\n"
    "lib = ctypes.PyDLL(sys.argv[1])\n"
    "buf = ctypes.create_string_buffer(4096)\n"
    "n = lib.pyi_probe_stack(buf, 4096)\n"
    "sys.stdout.write('%d %s\\n' % (n, buf.value.decode()))\n"
)


def version_of(python):
    out = subprocess.run([python, "-c", "import sys; print(sys.hexversion)"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    if out.returncode != 0:
        return None, out.stdout.decode("utf-8", "replace")
    return int(out.stdout.split()[0]), ""


def driver(args):
    python = args.python
    probe = os.path.join(os.path.abspath(args.build), "tests", "libpyiprobe.so")
    if python in (None, "none"):
        print("skipped: this test needs an interpreter (--python PATH)")
        return EXIT_SKIP
    if not os.path.exists(probe):
        print("skipped: the probe library %s is not built" % probe)
        return EXIT_SKIP
    hexversion, err = version_of(python)
    if hexversion is None:
        print("FAIL: %s does not run:\n%s" % (python, err))
        return 1
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    env.pop("PYTHONPATH", None)
    major, minor = hexversion >> 24, (hexversion >> 16) & 0xff
    if (major, minor) < (3, 8):
        out = subprocess.run([python, "-c", REFUSAL_SNIPPET, probe], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, env=env, timeout=60)
        text = out.stdout.decode("utf-8", "replace").strip()
        if out.returncode != 0 or not text.startswith("-1 unsupported: CPython %d.%d."
                                                      % (major, minor)) \
                or "is not supported (3.8 to 3.15 are)" not in text:
            print("FAIL: the loader should refuse %s, it said: %s" % (python, text))
            return 1
        print("skipped: CPython %d.%d is not supported; the loader refused it as expected "
              "(%s)" % (major, minor, text))
        return EXIT_SKIP
    out = subprocess.run([python, os.path.abspath(__file__), "--child", probe],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                         timeout=240)
    sys.stdout.write(out.stdout.decode("utf-8", "replace"))
    if out.returncode != 0:
        print("FAIL: %s exited with %d" % (python, out.returncode))
        return 1
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--python")
    ap.add_argument("--build", default="build")
    ap.add_argument("--child", metavar="PROBE", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args.child)
    return driver(args)


if __name__ == "__main__":
    sys.exit(main())
