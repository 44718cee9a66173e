#!/usr/bin/env python3
"""Draws a shmray timeline (Chrome trace JSON from Options::timeline, SHMRAY_TIMELINE or
shmray::timeline()) as a PNG Gantt chart: one row per worker process, each task attempt a
bar coloured by its function (or by its task name: --colour-by name; tasks run inline
inside another are drawn thinner on top of it, failed and crashed attempts hatched), and a
driver row: dark where the driver was blocked in get/wait, light where it ran its own code.

    python3 scripts/plot_timeline.py t.json t.png [--colour-by function|name] [--title TEXT] [--width INCHES]

Needs matplotlib (Debian: apt-get install python3-matplotlib)."""
import argparse
import json
import sys


def load(path):
    with open(path, encoding="utf-8") as f:
        trace = json.load(f)
    events = trace["traceEvents"] if isinstance(trace, dict) else trace
    names = {}
    tasks, blocks = [], []
    driver_pid = None
    for e in events:
        ph = e.get("ph")
        if ph == "M" and e.get("name") == "process_name":
            names[e["pid"]] = e["args"]["name"]
            if e["args"]["name"].startswith("shmray driver"):
                driver_pid = e["pid"]
        elif ph == "X" and e.get("cat") == "task":
            tasks.append(e)
        elif ph == "X" and e.get("cat") == "driver":
            blocks.append(e)
    return names, tasks, blocks, driver_pid


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("trace")
    ap.add_argument("png")
    ap.add_argument("--title", default=None)
    ap.add_argument("--width", type=float, default=10.0)
    ap.add_argument("--colour-by", choices=["function", "name"], default="function")
    a = ap.parse_args(argv)
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.patches import Patch
    except ImportError:
        print("plot_timeline.py: matplotlib is missing (Debian: apt-get install python3-matplotlib)", file=sys.stderr)
        return 3
    names, tasks, blocks, driver_pid = load(a.trace)
    # Rows: the driver on top, then the workers by slot (a restarted slot gets a row per process).
    workers = sorted({t["pid"] for t in tasks}, key=lambda p: (t_slot(tasks, p), p))
    rows = (["driver"] if blocks or driver_pid is not None else []) + workers
    row_of = {r: i for i, r in enumerate(rows)}
    key = (lambda t: t["name"]) if a.colour_by == "name" else (lambda t: t["args"].get("function", t["name"]))
    functions = list(dict.fromkeys(key(t) for t in sorted(tasks, key=lambda t: t["ts"])))  # first seen first
    cmap = plt.get_cmap("tab10" if len(functions) <= 10 else "tab20")
    colour = {f: cmap(i % cmap.N) for i, f in enumerate(functions)}
    t0 = min([e["ts"] for e in tasks + blocks], default=0.0)
    scale = 1e-3  # microseconds -> milliseconds
    height = max(2.0, 0.45 * len(rows) + 1.5)
    fig, ax = plt.subplots(figsize=(a.width, height))
    for t in tasks:
        y = row_of[t["pid"]]
        depth = int(t["args"].get("depth", 1))
        h = 0.8 / depth  # nested (inline) runs: thinner bars on top of their parent
        outcome = t["args"].get("outcome", "ok")
        ax.barh(y, max(t["dur"], 0.5) * scale, left=(t["ts"] - t0) * scale, height=h,
                color=colour[key(t)], edgecolor="black", linewidth=0.4,
                hatch=None if outcome == "ok" else "xx", zorder=2 + depth)
    if "driver" in row_of and (tasks or blocks):
        y = row_of["driver"]
        end = max(e["ts"] + e["dur"] for e in tasks + blocks)
        ax.barh(y, (end - t0) * scale, left=0, height=0.6, color="0.88", edgecolor="0.6", linewidth=0.4, zorder=1)
        for b in blocks:
            ax.barh(y, max(b["dur"], 0.5) * scale, left=(b["ts"] - t0) * scale, height=0.6, color="0.35",
                    edgecolor="black", linewidth=0.4, zorder=2)
    labels = []
    for r in rows:
        if r == "driver":
            labels.append("driver")
        else:
            n = names.get(r, "pid %d" % r)
            labels.append(n.replace(" (pid", "\n(pid"))
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels(labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("time since init (ms)" if t0 == 0 else "time (ms)")
    ax.grid(axis="x", linestyle=":", linewidth=0.5)
    handles = [Patch(facecolor=colour[f], edgecolor="black", label=f) for f in functions]
    if "driver" in row_of:
        handles.append(Patch(facecolor="0.35", edgecolor="black", label="driver blocked in get/wait"))
        handles.append(Patch(facecolor="0.88", edgecolor="0.6", label="driver running its own code"))
    if any(t["args"].get("outcome", "ok") != "ok" for t in tasks):
        handles.append(Patch(facecolor="white", edgecolor="black", hatch="xx", label="failed / crashed / retried"))
    if handles:
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=min(4, len(handles)),
                  fontsize=8, frameon=False)
    ax.set_title(a.title or "%s: %d task attempts on %d workers" % (a.trace, len(tasks), len(workers)), fontsize=10)
    fig.tight_layout()
    fig.savefig(a.png, dpi=100)
    print("plot_timeline.py: %d task attempts, %d driver blocks -> %s" % (len(tasks), len(blocks), a.png))
    return 0


def t_slot(tasks, pid):
    for t in tasks:
        if t["pid"] == pid:
            return int(t["args"].get("worker_slot", 0))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
