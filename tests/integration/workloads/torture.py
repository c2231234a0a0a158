"""torture: everything at once, for a few seconds, to shake the sampler.

    python torture.py [SECONDS [FACTS_PATH]]

While the main thread recurses near a recursion limit raised to 5000, raises exceptions
through thousands of frames and forks children that work and leave with os._exit, other
threads: start and finish short-lived threads without pause; create threads from C
(pthread_create through ctypes) that run Python in a callback, and native-only ones that
never do; run asyncio with hundreds of tasks; pull values through deep generator chains;
compile and exec fresh code objects (freed again at once); raise and catch in deep stacks;
sleep in time.sleep, wait on locks, a condition and a pipe. SIGALRM fires through
signal.setitimer with the program's own handler, and a daemon thread is still spinning when
the interpreter exits.

stdout is deterministic: one line per part saying whether its own results were right, then
`done`. Nothing goes to stderr. The exit status is 0 when every part checked out, 1 if not.
The counts that depend on timing (threads made, forks, alarms, the pids) go as JSON to
FACTS_PATH, for the test to show.
"""
import asyncio
import json
import os
import signal
import sys
import threading
import time
import warnings

DURATION = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0
FACTS = sys.argv[2] if len(sys.argv) > 2 else None
clock = time.monotonic
stop = threading.Event()
problems = {}   # part -> first thing that went wrong
facts = {"pid": os.getpid(), "children": []}
lock = threading.Lock()
# Held while C threads that call into Python may exist, and around os.fork(). CPython 3.8-3.11
# take the runtime's thread-list lock in a fork child before making it new
# (PyOS_AfterFork_Child -> _PyEval_ReInitThreads -> _PyThreadState_DeleteExcept), and a
# foreign thread makes and drops its thread state under that lock without the GIL: a fork at
# that moment leaves the child waiting forever (gdb on a hung child, 3.11). A CPython bug, not
# what this workload is here to shake.
attaching = threading.Lock()
# Set while the main thread waits to fork. The lock is not fair: the C-thread loop, taking it
# again as soon as it let it go, kept the main thread out for 12 s in one CI run whose loop
# was slowed about thirtyfold (main_rounds 1), and the main thread's own work went unsampled.
fork_waiting = threading.Event()


def problem(part, what):
    with lock:
        problems.setdefault(part, what)


def count(key, n=1):
    with lock:
        facts[key] = facts.get(key, 0) + n


def squares_below(n):
    return (n - 1) * n * (2 * n - 1) // 6


# --- short-lived threads ----------------------------------------------------------------


def short_worker(n, out, i):
    s = 0
    for k in range(n):
        s += k * k
    out[i] = s


def thread_churn():
    while not stop.is_set():
        out = [None] * 4
        threads = [threading.Thread(target=short_worker, args=(1500 + i, out, i))
                   for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for i in range(4):
            if out[i] != squares_below(1500 + i):
                problem("threads", "worker %d gave %r" % (i, out[i]))
        count("short_threads", 4)


# --- threads created from C -------------------------------------------------------------


def c_threads():
    try:
        import ctypes
    except ImportError:
        facts["ctypes"] = "missing"
        return
    libc = ctypes.CDLL(None)
    create, join = libc.pthread_create, libc.pthread_join
    create.argtypes = [ctypes.POINTER(ctypes.c_ulong), ctypes.c_void_p, ctypes.c_void_p,
                       ctypes.c_void_p]
    join.argtypes = [ctypes.c_ulong, ctypes.c_void_p]
    start = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p)
    results = []

    def from_c(arg):
        # ctypes makes a thread state for this foreign thread, and drops it on return.
        results.append(sum(k for k in range(3000 + (arg or 0))))
        return None

    entry = start(from_c)
    # A native-only thread: its start routine is usleep(arg), no Python at all.
    native = ctypes.cast(libc.usleep, ctypes.c_void_p).value
    while not stop.is_set():
        while fork_waiting.is_set() and not stop.is_set():
            time.sleep(0.001)  # the main thread forks first
        with attaching:
            del results[:]
            tids = []
            for i in range(3):
                tid = ctypes.c_ulong()
                if create(ctypes.byref(tid), None, ctypes.cast(entry, ctypes.c_void_p), i) != 0:
                    problem("c-threads", "pthread_create failed")
                    return
                tids.append(tid)
            tid = ctypes.c_ulong()
            if create(ctypes.byref(tid), None, native, 2000) != 0:
                problem("c-threads", "pthread_create (native) failed")
                return
            tids.append(tid)
            for tid in tids:
                if join(tid.value, None) != 0:
                    problem("c-threads", "pthread_join failed")
        if sorted(results) != [sum(range(3000 + i)) for i in range(3)]:
            problem("c-threads", "callbacks gave %r" % results)
        count("c_threads", 4)


# --- asyncio with many tasks ------------------------------------------------------------


async def task_body(i):
    acc = 0
    for step in range(5):
        acc += sum(range(i % 50 + step))
        await asyncio.sleep(0)
    return acc


def task_expected(i):
    return sum(sum(range(i % 50 + step)) for step in range(5))


async def many_tasks(n):
    tasks = [asyncio.ensure_future(task_body(i)) for i in range(n)]
    return await asyncio.gather(*tasks)


def asyncio_loop():
    loop = asyncio.new_event_loop()
    try:
        expected = [task_expected(i) for i in range(300)]
        while not stop.is_set():
            if loop.run_until_complete(many_tasks(300)) != expected:
                problem("asyncio", "gather gave wrong results")
            count("asyncio_rounds")
    finally:
        loop.close()


# --- generators ---------------------------------------------------------------------------


def numbers(n):
    for i in range(n):
        yield i


def relay(source, depth):
    if depth == 0:
        yield from source
    else:
        yield from relay(source, depth - 1)


def generators():
    while not stop.is_set():
        total = sum(relay(numbers(2000), 60))
        if total != sum(range(2000)):
            problem("generators", "chain gave %d" % total)
        count("generator_rounds")


# --- fresh code objects -------------------------------------------------------------------

FRESH = """
def fresh_{i}(x):
    acc = 0
    for j in range(400):
        acc += j * x
    return acc + {i}
result = fresh_{i}(3)
"""


def fresh_code():
    i = 0
    while not stop.is_set():
        ns = {}
        exec(compile(FRESH.format(i=i), "<torture-%d>" % (i % 7), "exec"), ns)
        if ns["result"] != 3 * sum(range(400)) + i:
            problem("exec", "fresh_%d gave %r" % (i, ns["result"]))
        i += 1
    facts["code_objects"] = i


# --- exceptions in deep stacks ----------------------------------------------------------


class Deep(Exception):
    pass


def thrower(depth, tag):
    if depth == 0:
        raise Deep(tag)
    try:
        return thrower(depth - 1, tag)
    finally:
        pass


def exceptions():
    n = 0
    while not stop.is_set():
        try:
            thrower(300, n)
            problem("exceptions", "no exception")
        except Deep as e:
            if e.args != (n,):
                problem("exceptions", "caught %r" % (e.args,))
        n += 1
    facts["thread_exceptions"] = n


# --- threads that wait ------------------------------------------------------------------


def sleeper():
    while not stop.is_set():
        time.sleep(0.05)


gate = threading.Lock()
gate.acquire()
cond = threading.Condition()
cond_ready = [False]
pipe_r, pipe_w = os.pipe()
woken = []


def lock_waiter(i):
    with gate:
        woken.append("lock")


def cond_waiter():
    with cond:
        while not cond_ready[0]:
            cond.wait()
    woken.append("cond")


def pipe_reader():
    data = os.read(pipe_r, 1)
    woken.append("pipe %r" % data)


def daemon_spinner():
    n = 0
    while True:
        n += 1


# --- the main thread: recursion near the limit, deep exceptions, forks, SIGALRM ---------

alarms = [0]


def on_alarm(signo, frame):
    alarms[0] += 1


def recurse(depth):
    if depth == 0:
        return sum(range(300))
    return recurse(depth - 1) + 1


def raise_deep(depth):
    if depth == 0:
        raise Deep("bottom")
    return raise_deep(depth - 1)


def child_value(k):
    # About 30 ms: enough for the child's own sampler to take samples and write a file.
    return sum(recurse(1000) for _ in range(20)) + sum(i * k for i in range(150000))


def child_work(k):
    # Only arithmetic and os calls: other threads may hold locks at fork time.
    value = child_value(k)
    os.write(child_w, str(value).encode() + b"\n")
    os._exit(k % 50 + 3)


def fork_one(k):
    global child_w
    r, child_w = os.pipe()
    fork_waiting.set()
    with attaching:
        fork_waiting.clear()
        pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            child_work(k)
        finally:
            os._exit(99)
    os.close(child_w)
    facts["children"].append(pid)
    data = b""
    while True:
        chunk = os.read(r, 64)
        if not chunk:
            break
        data += chunk
    os.close(r)
    give_up = clock() + 20
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if clock() > give_up:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            problem("fork", "child %d hung" % pid)
            return
        time.sleep(0.005)
    if not os.WIFEXITED(status) or os.WEXITSTATUS(status) != k % 50 + 3:
        problem("fork", "child status %r" % status)
    expected = child_value(k)
    if data != str(expected).encode() + b"\n":
        problem("fork", "child said %r" % data)


def main_thread_rounds(deadline):
    rounds = 0
    while clock() < deadline:
        if recurse(4900) != 4900 + sum(range(300)):
            problem("recursion", "wrong result")
        try:
            raise_deep(4000)
            problem("recursion", "no exception")
        except Deep:
            pass
        if rounds % 6 == 0:
            fork_one(rounds)
        rounds += 1
    facts["main_rounds"] = rounds


def main():
    sys.setrecursionlimit(5000)
    # Hand the GIL around ten times as often as by default: more threads run between
    # two ticks, and signals land in more places.
    sys.setswitchinterval(0.0005)
    # 3.12+ warn that forking a multi-threaded process may deadlock; it names the pid, and
    # this program forks with care (children do arithmetic and os calls only).
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, 0.003, 0.003)
    parts = [thread_churn, c_threads, asyncio_loop, generators, fresh_code, exceptions,
             sleeper, sleeper, sleeper, cond_waiter, pipe_reader,
             lambda: lock_waiter(0), lambda: lock_waiter(1)]
    threads = [threading.Thread(target=p) for p in parts]
    for t in threads:
        t.start()
    threading.Thread(target=daemon_spinner, daemon=True).start()

    main_thread_rounds(clock() + DURATION)

    signal.setitimer(signal.ITIMER_REAL, 0, 0)
    stop.set()
    gate.release()
    with cond:
        cond_ready[0] = True
        cond.notify_all()
    os.write(pipe_w, b"x")
    for t in threads:
        t.join(30)
        if t.is_alive():
            problem("join", "a thread did not finish")
    facts["alarms"] = alarms[0]
    if alarms[0] == 0:
        problem("alarm", "SIGALRM never ran its handler")
    if sorted(woken) != ["cond", "lock", "lock", "pipe b'x'"]:
        problem("waiters", "woken: %r" % sorted(woken))
    for key in ("short_threads", "asyncio_rounds", "generator_rounds"):
        if not facts.get(key):
            problem(key, "never completed a round")
    if not facts["children"]:
        problem("fork", "no child was forked")

    for part in ("threads", "c-threads", "asyncio", "generators", "exec", "exceptions",
                 "recursion", "fork", "alarm", "waiters", "join", "short_threads",
                 "asyncio_rounds", "generator_rounds"):
        print("%s: %s" % (part, "FAILED " + problems[part] if part in problems else "ok"))
    if FACTS:
        with open(FACTS, "w") as f:
            json.dump(facts, f)
    print("done")
    sys.stdout.flush()
    return 1 if problems else 0


sys.exit(main())
