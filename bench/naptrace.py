"""Where idle50's naps spend their time, from the kernel's scheduler trace (root, tracefs).

    python3 bench/naptrace.py PYTHON UNITS [BUILD[,VAR=VALUE...]]

Runs bench/workloads/idle50.py once (bare, or under BUILD's agent) while ftrace records
sched_switch and sched_waking, then reads each idle thread's waits from the trace: the ones
that last about 10 ms (its nap's sleep), about 5 ms (a wait for the GIL that timed out) and
the rest (the GIL handed over), each with how long the thread then waited for a CPU. A nap
of idle50 is one cycle from one 10 ms sleep to the next; the cycles' quartiles and the share
under 16 ms (one timed-out wait for the GIL, not two) close the report.
"""
import collections
import os
import re
import statistics
import subprocess
import sys

from agentrun import agent_env

TRACING = "/sys/kernel/tracing"
LINE = re.compile(r"^\s*(.+?)-(\d+)\s+\[(\d+)\]\s+\S+\s+([\d.]+): (sched_switch|sched_waking): (.*)$")


def write(name, value):
    with open(os.path.join(TRACING, name), "w") as f:
        f.write(value)


def record(python, units, build):
    env = agent_env(build, "/dev/null")
    if not os.path.exists(os.path.join(TRACING, "trace")):
        subprocess.run(["mount", "-t", "tracefs", "nodev", TRACING], check=True)
    workload = os.path.join(os.path.dirname(os.path.abspath(__file__)), "workloads", "idle50.py")
    write("tracing_on", "0")
    write("trace", "")
    write("trace_clock", "mono")
    write("buffer_size_kb", "65536")
    write("set_event", "sched:sched_switch\nsched:sched_waking\n")
    write("tracing_on", "1")
    subprocess.run([python, workload, str(units)], env=env, stdout=subprocess.DEVNULL,
                   cwd=os.path.dirname(workload))
    write("tracing_on", "0")
    with open(os.path.join(TRACING, "trace")) as f:
        return f.read().splitlines()


def analyse(lines):
    events = []
    for line in lines:
        m = LINE.match(line)
        if m:
            events.append((float(m.group(4)) * 1e6, int(m.group(2)), m.group(5),
                           dict(re.findall(r"(\w+)=(\S+)", m.group(6)))))
    # The idle threads are those that slept about 10 ms at a time, ten times or more (the
    # trace names threads, not processes; nothing else on a quiet machine naps so).
    off, waits, last_nap, cycles = {}, collections.defaultdict(list), {}, []
    for ts, current, name, kv in events:
        if name == "sched_switch":
            prev, nxt = int(kv["prev_pid"]), int(kv["next_pid"])
            if prev and kv["prev_state"].startswith(("S", "D")):
                off[prev] = [ts, None]
            entry = off.pop(nxt, None)
            if entry and entry[1] is not None:
                slept, ready = entry[1] - entry[0], ts - entry[1]
                kind = ("sleep 10ms" if 9900 < slept < 10300 else
                        "gil timeout 5ms" if 4900 < slept < 5300 else "other wait")
                waits[kind].append((slept, ready, nxt))
                if kind == "sleep 10ms":
                    if nxt in last_nap:
                        cycles.append((nxt, entry[0] - last_nap[nxt]))
                    last_nap[nxt] = entry[0]
        elif int(kv["pid"]) in off and off[int(kv["pid"])][1] is None:
            off[int(kv["pid"])][1] = ts
    naps = collections.Counter(w[2] for w in waits["sleep 10ms"])
    idle = {tid for tid, n in naps.items() if n >= 10}
    cycles = [c for tid, c in cycles if tid in idle]
    print("idle threads %d, naps %d" % (len(idle), len(cycles)))
    for kind in ("sleep 10ms", "gil timeout 5ms", "other wait"):
        rows = [w for w in waits[kind] if w[2] in idle]
        if rows:
            print("  %-16s %6d  slept p50 %8.1f us  then waited for a CPU p50 %5.1f mean %5.1f us"
                  % (kind, len(rows), statistics.median(r[0] for r in rows),
                     statistics.median(r[1] for r in rows), statistics.mean(r[1] for r in rows)))
    if cycles:
        c = sorted(cycles)
        q = lambda f: c[int(f * (len(c) - 1))]
        print("  naps: p25 %.0f p50 %.0f p75 %.0f us; under 16 ms %.3f" % (
            q(0.25), q(0.5), q(0.75), sum(x < 16000 for x in c) / len(c)))


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    analyse(record(sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None))


main()
