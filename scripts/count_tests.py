#!/usr/bin/env python3
"""Prints "N passed, N failed" over one or more meson build dirs, counted per doctest case.

Reads each build dir's meson-logs/testlog.json. A doctest binary contributes its
"[doctest] test cases: T | P passed | F failed" counts (as does a script that prints
"[checks] test cases: ..." in the same form, scripts/consumer_check.sh); a binary that crashed, hung or
printed no such line counts as one failed case more; a test that is not doctest counts
as one case (passed or failed by its meson result).
"""
import glob
import json
import os
import re
import sys

CASE = re.compile(r"^TEST CASE:\s*(.*?)\s*$", re.M)
SUMMARY = re.compile(r"^\[(?:doctest|checks)\] test cases:\s*(\d+)\s*\|\s*(\d+) passed\s*\|\s*(\d+) failed", re.M)


def count(builddir):
    passed = failed = 0
    bad = []
    logs = sorted(glob.glob(f"{builddir}/meson-logs/testlog*.json"), key=os.path.getmtime)
    try:
        lines = open(logs[-1]).read().splitlines()
    except (OSError, IndexError):
        return 0, 1, [f"{builddir}: no test log (build failed?)"]
    for line in lines:
        if not line.strip():
            continue
        t = json.loads(line)
        ok = t.get("result") in ("OK", "EXPECTEDFAIL", "SKIP")
        m = None
        # Only lines that start with it: a worker's output (prefixed "(pid=N) ") never counts.
        for m in SUMMARY.finditer(t.get("stdout", "") or ""):
            pass
        if m:
            passed += int(m.group(2))
            failed += int(m.group(3))
            if not ok and int(m.group(3)) == 0:
                failed += 1  # e.g. crashed after its cases, or a timeout
            if not ok or int(m.group(3)):
                # CI shows only the log's tail: name the program and its failing cases here.
                cases = sorted(set(CASE.findall(t.get("stdout", "") or "")))
                bad.append(f"{builddir}: {t['name']} ({t.get('result')})" + "".join(f"\n    case: {c}" for c in cases))
        else:
            if ok:
                passed += 1
            else:
                failed += 1
                cases = sorted(set(CASE.findall(t.get("stdout", "") or "")))
                bad.append(f"{builddir}: {t['name']} ({t.get('result')})" + "".join(f"\n    case: {c}" for c in cases))
    return passed, failed, bad


def main():
    total_p = total_f = 0
    for d in sys.argv[1:]:
        p, f, bad = count(d)
        total_p += p
        total_f += f
        for b in bad:
            print("failed:", b)
    print(f"{total_p} passed, {total_f} failed")
    return 0 if total_f == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
