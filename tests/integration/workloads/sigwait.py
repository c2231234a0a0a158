"""A thread that blocks every signal, computes, then takes real-time signals with
sigtimedwait(): it must receive none of the profiler's. Prints what it received.

First checks the kernel: a CPU-time timer's signal still pending when the timer is deleted is
dropped by recent kernels (the agent relies on that); on an older kernel it prints
"kernel keeps" and the test is skipped.
"""
import ctypes
import signal
import sys
import threading
import time

libc = ctypes.CDLL(None, use_errno=True)
RT = list(range(signal.SIGRTMIN, signal.SIGRTMAX + 1))


def spin(seconds):
    end = time.thread_time() + seconds
    n = 0
    while time.thread_time() < end:
        n += 1
    return n


class SigEvent(ctypes.Structure):
    _fields_ = [("value", ctypes.c_void_p), ("signo", ctypes.c_int), ("notify", ctypes.c_int),
                ("tid", ctypes.c_int), ("pad", ctypes.c_int * 11)]


def kernel_drops_deleted_timer_signals():
    """Runs in a thread that blocks everything. SIGEV_THREAD_ID = 4."""
    sig = signal.SIGRTMIN + 1
    ev = SigEvent(None, sig, 4, threading.get_native_id())
    timer = ctypes.c_void_p()
    CLOCK_THREAD_CPUTIME_ID = 3
    if libc.timer_create(CLOCK_THREAD_CPUTIME_ID, ctypes.byref(ev), ctypes.byref(timer)) != 0:
        return None
    its = (ctypes.c_long * 4)(0, 1000000, 0, 1000000)
    libc.timer_settime(timer, 0, its, None)
    spin(0.05)
    libc.timer_delete(timer)
    return signal.sigtimedwait([sig], 0) is None


def waiter(results):
    signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
    results["kernel"] = kernel_drops_deleted_timer_signals()
    spin(0.6)
    got = []
    deadline = time.monotonic() + 0.3
    while time.monotonic() < deadline:
        info = signal.sigtimedwait(RT, 0.05)
        if info is not None:
            got.append(info.si_signo)
    results["got"] = got


def main():
    results = {}
    t = threading.Thread(target=waiter, args=(results,))
    t.start()
    t.join()
    if results.get("kernel") is False:
        print("kernel keeps deleted timer signals")
        return
    print("sigwait got:", results.get("got"))


main()
sys.stdout.flush()
