"""A thread created from C (pthread_create through ctypes, not the threading module) runs
Python code in c_thread_work while the main thread works in main_thread_work."""
import ctypes
import ctypes.util
import time

clock = time.perf_counter
libpthread = ctypes.CDLL(ctypes.util.find_library("pthread") or None)
START = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p)


def spin(seconds):
    end = clock() + seconds
    n = 0
    while clock() < end:
        n += 1
    return n


def c_thread_work():
    spin(0.8)


def main_thread_work():
    spin(0.8)


@START
def thread_entry(arg):
    # ctypes takes the GIL and makes a thread state for this foreign thread.
    c_thread_work()
    return None


def main():
    tid = ctypes.c_ulong()
    rc = libpthread.pthread_create(ctypes.byref(tid), None, thread_entry, None)
    assert rc == 0, rc
    main_thread_work()
    # ctypes releases the GIL around the call, so the C thread can finish.
    rc = libpthread.pthread_join(tid, None)
    assert rc == 0, rc
    print("joined the C thread")


main()
