"""Prints `ready`, then sleeps SECONDS (default 1.5): a Python process to look at from outside."""
import sys
import time

print("ready", flush=True)
time.sleep(float(sys.argv[1]) if len(sys.argv) > 1 else 1.5)
print("awake")
