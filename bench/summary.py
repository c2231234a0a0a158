#!/usr/bin/env python3
"""Condenses a bench run (BUILD/bench/results.json) into the Markdown tables of PERFORMANCE.md.

    python3 bench/summary.py build/bench/results.json

Figures from workloads that ran while other work kept the machine busy are marked with *.
"""

import json
import sys


def index(rows):
    out = {}
    for r in rows:
        out[(r.get("python"), r.get("workload"), r.get("profiler"), r.get("interval"))] = r
    return out


def pythons(rows):
    seen = []
    for r in rows:
        p = r.get("python")
        if p and p != "-" and p not in seen:
            seen.append(p)
    return seen


def ratio(idx, py, wl, prof, iv, key):
    r = idx.get((py, wl, prof, iv))
    if not r or r["data"].get(key) is None:
        return "-"
    return "%.3f%s" % (r["data"][key], "*" if r["data"].get("busy") else "")


def number(idx, py, wl, prof, iv, key, fmt="%.0f"):
    r = idx.get((py, wl, prof, iv))
    if not r or r["data"].get(key) is None:
        return "-"
    return (fmt % r["data"][key]) + ("*" if r["data"].get("busy") else "")


def table(header, lines):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(line) + " |" for line in lines]
    return "\n".join(out)


def main():
    with open(sys.argv[1]) as f:
        rows = json.load(f)["rows"]
    idx = index(rows)
    pys = pythons(rows)

    print("**Overhead** (median profiled/bare; wall, then CPU of the whole process)\n")
    lines = []
    for py in pys:
        line = [py]
        for wl in ("fib", "deep300"):
            for iv in ("1ms", "100us"):
                line.append("%s / %s" % (ratio(idx, py, wl, "pyinstr", iv, "wall_ratio"),
                                          ratio(idx, py, wl, "pyinstr", iv, "cpu_ratio")))
        for iv in ("1ms", "100us"):
            line.append("%s / %s" % (ratio(idx, py, "fib", "baseline", iv, "wall_ratio"),
                                      ratio(idx, py, "fib", "baseline", iv, "cpu_ratio")))
        line.append(ratio(idx, py, "fib", "cProfile", "-", "wall_ratio"))
        lines.append(line)
    print(table(["python", "fib 1ms", "fib 100us", "deep300 1ms", "deep300 100us",
                 "baseline fib 1ms", "baseline fib 100us", "cProfile fib"], lines))

    print("\n**Per-sample cost** at 100 us (ns): the agent's own handler timing; everything the "
          "process paid per sample; the same for the empty-signal baseline\n")
    lines = []
    for py in pys:
        line = [py]
        for wl in ("depth10", "depth100", "depth1000"):
            line.append(number(idx, py, wl, "pyinstr", "100us", "handler_ns"))
        for wl in ("depth10", "depth100", "depth1000"):
            line.append("%s / %s" % (number(idx, py, wl, "pyinstr", "100us", "ns_per_sample"),
                                      number(idx, py, wl, "baseline", "100us", "ns_per_sample")))
        lines.append(line)
    print(table(["python", "handler d10", "handler d100", "handler d1000", "all d10 (baseline)",
                 "all d100 (baseline)", "all d1000 (baseline)"], lines))

    workloads = ("fib", "deep300", "split7030", "sleepmix", "threads4", "asyncio", "idle50")
    for iv, note in (("1ms", "fib and split7030 with runs of their own until 10,000 samples "
                             "pooled; the others about 250 samples a run, 3,750 or 1,250 "
                             "pooled"),
                     ("100us", "the same event period, so the same samples; threads off the "
                               "CPU looked at more often")):
        print("\n**Accuracy at %s**: largest |reported - true| share over the workload's "
              "functions, in points, wall / cpu, the truth being the profiled runs' own (%s)\n"
              % (iv, note))
        lines = []
        for py in pys:
            line = [py]
            for wl in workloads:
                line.append("%s / %s" % (number(idx, py, wl, "pyinstr", iv, "wall_err", "%.1f"),
                                          number(idx, py, wl, "pyinstr", iv, "cpu_err", "%.1f")))
            lines.append(line)
        print(table(["python"] + list(workloads), lines))
    print("\n**Split shift at 1 ms**: the profiled runs' own wall share minus the bare runs', "
          "points, for the function moved most, +- two standard errors\n")
    lines = []
    for py in pys:
        for prof, iv in (("pyinstr", "1ms"), ("cProfile", "-")):
            line = ["%s %s" % (prof, py)]
            for wl in workloads:
                r = idx.get((py, wl, prof, iv))
                d = r["data"] if r else {}
                if d.get("shift") is None:
                    line.append("-")
                elif d.get("shift_bar") is None:
                    line.append("%+.1f" % d["shift"])
                else:
                    line.append("%+.1f+-%.1f" % (d["shift"], d["shift_bar"]))
            if any(x != "-" for x in line[1:]):
                lines.append(line)
    print(table(["profiler"] + list(workloads), lines))
    print("\n**50 idle threads** beside a busy one, at 1 ms: wall / CPU ratio, how much the "
          "idle threads' 10 ms sleeps overshoot (profiled vs bare, us), errors\n")
    lines = []
    for py in pys:
        r = idx.get((py, "idle50", "pyinstr", "1ms"))
        if not r:
            continue
        d = r["data"]
        lines.append([py, "%s / %s" % (ratio(idx, py, "idle50", "pyinstr", "1ms", "wall_ratio"),
                                       ratio(idx, py, "idle50", "pyinstr", "1ms", "cpu_ratio")),
                      "%s vs %s" % (number(idx, py, "idle50", "pyinstr", "1ms", "nap_over_us"),
                                    number(idx, py, "idle50", "pyinstr", "1ms",
                                           "nap_over_us_bare")),
                      str(d.get("idle_errors", "-"))])
    print(table(["python", "wall / cpu x", "nap overshoot (us)", "errors"], lines))

    report = [r for r in rows if r.get("profiler") == "pyinstr-report"]
    if report:
        print("\n**pyinstr-report** on %s\n" % report[0]["workload"])
        print(table(["output", "time (s)", "peak RSS (MB)"],
                    [[r["interval"], "%.2f" % r["data"]["seconds"],
                      "%.0f" % r["data"]["peak_rss_mb"]] for r in report if r["data"]]))


if __name__ == "__main__":
    main()
