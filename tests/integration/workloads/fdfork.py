"""Works in before(), closes every descriptor above 2 and opens a file of its own under the
freed number, forks (the child leaves at once), then works in after() and writes to its file.
On 3.12+ the agent's threads stop around the fork and start again after it, so the profile
must outlive the program's close. Prints the file's content.

Usage: fdfork.py DIR
"""
import os
import sys
import time


def spin(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def before():
    spin(0.3)


def after():
    spin(0.3)


before()
os.closerange(3, 4096)
path = os.path.join(sys.argv[1], "mine.txt")
f = open(path, "w")
pid = os.fork()
if pid == 0:
    os._exit(0)
os.waitpid(pid, 0)
f.write("written after the fork\n")
f.close()
after()
with open(path) as f:
    print(f.read().strip())
