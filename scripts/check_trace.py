#!/usr/bin/env python3
"""Checks a timeline file (Options::timeline, SHMRAY_TIMELINE) against what the trace
viewers' JSON importers need, so that a file that passes opens in ui.perfetto.dev and
chrome://tracing with every task shown:

  python3 scripts/check_trace.py t.json     # prints a summary; exit 1 and the faults if any

What it checks (the Chrome trace event format, and where Perfetto's importer is stricter):
- strict JSON: no NaN/Infinity, no duplicate keys; an object with a traceEvents list;
- every event: a known phase, a string name, integer pid/tid, a finite ts >= 0;
- complete slices ('X'): a finite dur >= 0; on one thread (pid, tid) slices nest: one that
  starts inside another ends inside it too (Perfetto drops a slice that overlaps a sibling
  on its track, so the task would not show);
- flows ('s' then 'f', one of each per id): the start lies inside a slice on its thread, the
  finish ('bp': 'e') inside a slice on its own, and it is not before the start;
- metadata ('M'): a known name with its args; instant events ('i'): a known scope;
- and shmray's own: a task slice (cat "task") carries submit_us, and it is not after the
  slice's start (a task cannot start before it was submitted; one run inline by its
  submitter is stamped by that worker, not when the driver learnt of it).
Times are compared in whole nanoseconds, as Perfetto stores them (ts is in microseconds).
"""
import json
import math
import sys
from collections import defaultdict

PHASES = set("XBEiIstfMCbenPOND")
METADATA = {"process_name": "name", "thread_name": "name", "process_sort_index": "sort_index",
            "thread_sort_index": "sort_index", "process_labels": "labels"}


def strict_object(pairs):
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise ValueError("duplicate key in an object: %r" % keys)
    return dict(pairs)


def refuse_constant(c):
    raise ValueError("not JSON: " + c)


def ns(us):
    return round(us * 1000)


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def is_time(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0


def check_event(i, e, faults):
    where = "event %d" % i
    if not isinstance(e, dict):
        faults.append("%s: not an object" % where)
        return False
    ph = e.get("ph")
    if ph not in PHASES:
        faults.append("%s: unknown phase %r" % (where, ph))
        return False
    if not isinstance(e.get("name"), str):
        faults.append("%s (%s): no string name" % (where, ph))
    if not is_int(e.get("pid")):
        faults.append("%s (%s): pid is not an integer" % (where, ph))
    if ph == "M":
        key = METADATA.get(e.get("name"))
        if key is None:
            faults.append("%s: unknown metadata %r" % (where, e.get("name")))
        elif not isinstance(e.get("args"), dict) or key not in e["args"]:
            faults.append("%s: metadata %s without args.%s" % (where, e.get("name"), key))
        return True
    if not is_int(e.get("tid")):
        faults.append("%s (%s): tid is not an integer" % (where, ph))
    if not is_time(e.get("ts")):
        faults.append("%s (%s): ts %r is not a finite time >= 0" % (where, ph, e.get("ts")))
        return False
    if ph == "X" and not is_time(e.get("dur")):
        faults.append("%s: slice %r has dur %r" % (where, e.get("name"), e.get("dur")))
        return False
    if ph == "X" and e.get("cat") == "task":
        a = e.get("args") if isinstance(e.get("args"), dict) else {}
        sub, start = a.get("submit_us"), a.get("start_us")
        if not is_time(sub):
            faults.append("%s: task %r has no submit_us" % (where, e.get("name")))
        elif is_time(start) and ns(sub) > ns(start):
            faults.append("%s: task %r submitted at %s us, after its start at %s us" % (where, e.get("name"), sub, start))
    if ph in "iI" and e.get("s", "t") not in ("g", "p", "t"):
        faults.append("%s: instant with scope %r" % (where, e.get("s")))
    if ph in "stf" and "id" not in e:
        faults.append("%s: flow event without an id" % where)
        return False
    return True


def check_nesting(slices, faults):
    """Slices of one thread must nest. Returns {track: [(start, end), ...]} sorted."""
    tracks = defaultdict(list)
    for e in slices:
        start = ns(e["ts"])
        tracks[(e["pid"], e["tid"])].append((start, start + ns(e["dur"]), e["name"]))
    for track, items in tracks.items():
        items.sort(key=lambda s: (s[0], -s[1]))
        stack = []
        for start, end, name in items:
            while stack and stack[-1][1] <= start:
                stack.pop()
            if stack and end > stack[-1][1]:
                faults.append("track pid=%d tid=%d: slice %r [%d, %d] ns overlaps %r [%d, %d] ns without nesting"
                              % (track[0], track[1], name, start, end, stack[-1][2], stack[-1][0], stack[-1][1]))
                continue
            stack.append((start, end, name))
    return tracks


def inside(tracks, track, t):
    return any(start <= t <= end for start, end, _ in tracks.get(track, ()))


def check_flows(flows, tracks, faults):
    by_id = defaultdict(list)
    for e in flows:
        by_id[(e.get("cat"), e["id"])].append(e)
    for key, es in by_id.items():
        starts = [e for e in es if e["ph"] == "s"]
        ends = [e for e in es if e["ph"] == "f"]
        if len(starts) != 1 or len(ends) != 1:
            faults.append("flow %r: %d start(s) and %d finish(es), not one of each" % (key, len(starts), len(ends)))
            continue
        s, f = starts[0], ends[0]
        if not inside(tracks, (s["pid"], s["tid"]), ns(s["ts"])):
            faults.append("flow %r: its start at %s us is inside no slice of its thread" % (key, s["ts"]))
        if f.get("bp") == "e" and not inside(tracks, (f["pid"], f["tid"]), ns(f["ts"])):
            faults.append("flow %r: its finish at %s us is inside no slice of its thread" % (key, f["ts"]))
        if ns(f["ts"]) < ns(s["ts"]):
            faults.append("flow %r: finishes (%s us) before it starts (%s us)" % (key, f["ts"], s["ts"]))


def check(path):
    faults = []
    with open(path, encoding="utf-8") as fh:
        trace = json.load(fh, object_pairs_hook=strict_object, parse_constant=refuse_constant)
    if not isinstance(trace, dict) or not isinstance(trace.get("traceEvents"), list):
        return ["the file is not an object with a traceEvents list"], {}
    events = trace["traceEvents"]
    good = [e for i, e in enumerate(events) if check_event(i, e, faults)]
    slices = [e for e in good if e["ph"] == "X"]
    tracks = check_nesting(slices, faults)
    check_flows([e for e in good if e["ph"] in "sf"], tracks, faults)
    summary = {"events": len(events), "slices": len(slices),
               "task_slices": sum(1 for e in slices if e.get("cat") == "task"),
               "flows": sum(1 for e in good if e["ph"] == "s"), "tracks": len(tracks)}
    return faults, summary


def main():
    if len(sys.argv) != 2:
        print("usage: check_trace.py TRACE.json", file=sys.stderr)
        return 2
    try:
        faults, summary = check(sys.argv[1])
    except (OSError, ValueError) as e:
        print("check_trace: %s: %s" % (sys.argv[1], e))
        return 1
    for f in faults[:50]:
        print("check_trace: " + f)
    if len(faults) > 50:
        print("check_trace: ... and %d more" % (len(faults) - 50))
    print("check_trace: %s: %s, %s" % (sys.argv[1], "FAULTS: %d" % len(faults) if faults else "ok",
                                       ", ".join("%d %s" % (v, k) for k, v in summary.items())))
    return 1 if faults else 0


if __name__ == "__main__":
    sys.exit(main())
