"""For SECONDS, closes every descriptor above 2 over and over (as a daemon library would,
each time), opening its three files again under the freed numbers and writing a byte to each.
A descriptor the agent holds at that moment is closed by the program, and its number goes to
one of the program's files: the agent must not close or write to it. Prints the iterations,
the errors seen and whether each file's size is the count of bytes written.

Usage: fdchurn.py DIR SECONDS
"""
import os
import sys
import time


def churn(names, seconds):
    counts = [0] * len(names)
    errors = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        os.closerange(3, 4096)
        fds = [os.open(n, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644) for n in names]
        for i, fd in enumerate(fds):
            try:
                os.write(fd, b"x")
                counts[i] += 1
            except OSError:
                errors += 1
        for fd in fds:
            try:
                os.close(fd)
            except OSError:
                errors += 1
    return counts, errors


names = [os.path.join(sys.argv[1], "data-%d.txt" % i) for i in range(3)]
counts, errors = churn(names, float(sys.argv[2]))
match = all(os.path.getsize(n) == c for n, c in zip(names, counts))
print("iterations %d" % counts[0])
print("errors %d" % errors)
print("sizes " + ("match" if match else "DIFFER"))
