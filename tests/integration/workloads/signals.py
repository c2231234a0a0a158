"""Uses signals the way a program might and prints what it observed; the output must not
depend on whether the profiler is loaded.

- what signal.getsignal() says for every signal at start;
- its own SIGPROF handler with ITIMER_PROF at 10 ms during 0.4 s of process CPU time: about
  40 calls;
- its own SIGALRM handler with ITIMER_REAL at 10 ms during 0.4 s: about 40 calls;
- time.sleep(0.3) lasts 0.3 s.
Counts are printed as buckets so that the output is stable.
"""
import signal
import time


def spin(seconds, clock):
    end = clock() + seconds
    n = 0
    while clock() < end:
        n += 1
    return n


def bucket(n):
    if n < 20:
        return "too few (%d)" % n
    if n > 60:
        return "too many (%d)" % n
    return "about 40"


def timed_handler_calls(signum, which, clock):
    calls = [0]

    def handler(s, f):
        calls[0] += 1
    old = signal.signal(signum, handler)
    signal.setitimer(which, 0.01, 0.01)
    spin(0.4, clock)
    signal.setitimer(which, 0)
    signal.signal(signum, old)
    return calls[0]


def main():
    for s in sorted(signal.valid_signals(), key=int) if hasattr(signal, "valid_signals") else []:
        try:
            h = signal.getsignal(s)
        except (ValueError, OSError):
            continue
        print("getsignal %d: %s" % (int(s), h if h in (None, signal.SIG_DFL, signal.SIG_IGN)
                                    else "python handler"))
    print("own SIGPROF handler calls:", bucket(timed_handler_calls(signal.SIGPROF,
                                                                     signal.ITIMER_PROF,
                                                                     time.process_time)))
    print("own SIGALRM handler calls:", bucket(timed_handler_calls(signal.SIGALRM,
                                                                     signal.ITIMER_REAL,
                                                                     time.perf_counter)))
    t0 = time.monotonic()
    time.sleep(0.3)
    print("sleep(0.3) took %s" % ("0.3 s" if 0.29 <= time.monotonic() - t0 < 0.6
                                  else "%.3f s" % (time.monotonic() - t0)))


main()
