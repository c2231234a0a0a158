"""A short program with known output on stdout and stderr and a little work."""
import sys
import time


def hello_work(seconds):
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


print("hello from", "hello.py")
sys.stderr.write("a line on stderr\n")
hello_work(float(sys.argv[1]) if len(sys.argv) > 1 else 0.1)
print("goodbye")
