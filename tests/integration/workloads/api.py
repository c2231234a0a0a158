"""Drives the agent from Python through its C API (ctypes): profiles only the middle part.

Usage: api.py OUTPUT. Works in before_start, then between pyinstr_start(OUTPUT) and
pyinstr_stop() in profiled_part, then in after_stop. Prints what the API returned.
"""
import ctypes
import sys
import time

clock = time.perf_counter


def spin(seconds):
    end = clock() + seconds
    while clock() < end:
        pass


def before_start():
    spin(0.3)


def profiled_part():
    spin(0.4)


def after_stop():
    spin(0.3)


def main():
    agent = ctypes.CDLL(None)
    agent.pyinstr_start.argtypes = [ctypes.c_char_p]
    print("active at start:", agent.pyinstr_is_active())
    before_start()
    print("start:", agent.pyinstr_start(sys.argv[1].encode()))
    print("start again:", agent.pyinstr_start(sys.argv[1].encode()))
    print("active:", agent.pyinstr_is_active())
    profiled_part()
    print("stop:", agent.pyinstr_stop())
    print("stop again:", agent.pyinstr_stop())
    after_stop()


main()
