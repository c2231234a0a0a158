"""Fifty threads sleeping 10 ms at a time beside one busy thread.

Each idle thread records how long its sleeps really took and counts any exception, so the
bench can show that profiling does not change their waits.
"""
import threading
import time

from benchlib import extra, main, region, spin, timed

IDLE = 50
NAP = 0.010

_stop = threading.Event()
_lock = threading.Lock()
_naps = []
_errors = []


def idle_wait(seconds):
    time.sleep(seconds)


def idle_body():
    naps = []
    try:
        while not _stop.is_set():
            t0 = time.perf_counter()
            timed("idle_wait", idle_wait, NAP)
            naps.append(time.perf_counter() - t0)
    except BaseException as e:  # an EINTR leaking out would land here
        with _lock:
            _errors.append(repr(e))
    with _lock:
        _naps.extend(naps)


def busy_a(n):
    return spin(n)


def busy_b(n):
    return spin(n)


def busy_body(units):
    for _ in range(units):
        timed("busy_a", busy_a, 20000)
        timed("busy_b", busy_b, 20000)


def work(units):
    threads = [threading.Thread(target=region, args=(idle_body,)) for _ in range(IDLE)]
    for t in threads:
        t.start()
    region(busy_body, units)
    _stop.set()
    for t in threads:
        t.join()
    naps = sorted(_naps)
    extra["naps"] = len(naps)
    extra["nap_over_us_mean"] = (sum(naps) / len(naps) - NAP) * 1e6 if naps else None
    extra["nap_over_us_p50"] = (naps[len(naps) // 2] - NAP) * 1e6 if naps else None
    extra["nap_over_us_p99"] = (naps[int(len(naps) * 0.99)] - NAP) * 1e6 if naps else None
    extra["errors"] = len(_errors)
    extra["first_error"] = _errors[0] if _errors else None


if __name__ == "__main__":
    # Each thread, idle or busy, is inside its own region; starting and joining are not.
    main(work, wrap=False)
