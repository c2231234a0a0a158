"""Writes a lot to stdout and stderr in several ways, echoes stdin, shows which file
descriptors a child shell inherits, and works a little. Its output is the same on every run,
so a profiled run can be compared byte for byte with a bare one."""
import os
import sys
import time


def chatty_work(seconds):
    end = time.perf_counter() + seconds
    n = 0
    while time.perf_counter() < end:
        n += 1
    return n


def main():
    for i in range(2000):
        print("line %d: %s" % (i, "x" * (i % 70)))
    sys.stdout.write("no newline at the end of this write; ")
    sys.stdout.flush()
    os.write(1, b"raw bytes through fd 1 \xff\xfe\n")
    sys.stderr.write("stderr: first\n")
    data = sys.stdin.buffer.read()
    sys.stdout.buffer.write(b"stdin had %d bytes: %r\n" % (len(data), data[:40]))
    chatty_work(0.2)
    sys.stdout.flush()
    # A child shell inherits every descriptor that is not close-on-exec: a profile file left
    # open across exec would show up here.
    os.system("ls /proc/self/fd | sort -n | tr '\\n' ' '; echo")
    sys.stderr.write("stderr: last\n")
    print("bye")


main()
