"""Closes every descriptor above 2 (as daemon libraries do), then opens its own files and
writes to them while it works. Prints whether each file holds exactly what was written.

Usage: fdreuse.py DIR
"""
import os
import sys
import time

directory = sys.argv[1]
os.closerange(3, 4096)
files = [open(os.path.join(directory, "data-%d.txt" % i), "w") for i in range(3)]
for n in range(40):
    for f in files:
        f.write("line %d\n" % n)
        f.flush()
    end = time.monotonic() + 0.01
    while time.monotonic() < end:
        pass
for f in files:
    f.close()
for i in range(3):
    with open(os.path.join(directory, "data-%d.txt" % i), "rb") as f:
        data = f.read()
    ok = data == b"".join(b"line %d\n" % n for n in range(40))
    print("data-%d.txt" % i, "intact" if ok else "CORRUPTED (%d bytes)" % len(data))
