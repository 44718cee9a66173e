#!/usr/bin/env python3
"""The demos' flags: a bad flag or value exits 2 with a message naming it (and the usage line),
before any pool starts; good flags run the demo to its end (exit 0, its last line printed).
The last line counts the cases as doctest does (scripts/count_tests.py reads it).

Usage: check_flags.py NAME=PATH...   (NAME: a demo's target name, PATH: its binary)
"""
import os
import signal
import subprocess
import sys

# Per demo: (arguments, exit code, text the output must hold: stderr for 2, stdout for 0).
BAD_COMMON = [
    (["--bogus"], 2, 'unknown flag "--bogus"'),
    (["extra"], 2, 'unknown flag "extra"'),
]
UNIT_MS = [
    (["--unit-ms"], 2, "--unit-ms needs a value"),
    (["--unit-ms", "abc"], 2, '--unit-ms takes a whole number from 1 to 10000, not "abc"'),
    (["--unit-ms", "-5"], 2, 'not "-5"'),
    (["--unit-ms", "0"], 2, 'not "0"'),
    (["--unit-ms", "12x"], 2, 'not "12x"'),
    (["--unit-ms", "99999999999"], 2, 'not "99999999999"'),
]
CASES = {
    "in_order_vs_as_available": BAD_COMMON + UNIT_MS + [
        (["--workers"], 2, "--workers needs a value"),
        (["--workers", "abc"], 2, '--workers takes a whole number from 1 to 1024, not "abc"'),
        (["--workers", "-1"], 2, 'not "-1"'),
        (["--workers", "0"], 2, 'not "0"'),
        (["--workers", "1025"], 2, 'not "1025"'),
        (["--timeline"], 2, "--timeline needs a value"),
        (["--help"], 0, "usage: "),
        (["--workers", "2", "--unit-ms", "1"], 0, "as-available / in-order:"),
    ],
    "ray_in_order_vs_as_available": BAD_COMMON + UNIT_MS + [
        (["--ray_head_args=--num-cpus=abc"], 2, 'cannot start: ray::Init: --num-cpus must be a whole number, not "abc"'),
        (["--help"], 0, "usage: "),
        (["--unit-ms", "1", "--ray_head_args=--num-cpus=2"], 0, "as-available / in-order:"),
    ],
    "ray_counter_actor": BAD_COMMON + [
        (["--tasks"], 2, "--tasks needs a value"),
        (["--tasks", "0"], 2, '--tasks takes a whole number from 1 to 1000, not "0"'),
        (["--ray_head_args=--num-cpus=abc"], 2, 'cannot start: ray::Init: --num-cpus must be a whole number, not "abc"'),
        (["--help"], 0, "usage: "),
        (["--tasks", "20", "--ray_head_args=--num-cpus=2"], 0, "after Kill: RayActorException"),
    ],
    "pipelining": BAD_COMMON + [
        (["--workers", "2"], 2, 'unknown flag "--workers"'),
        ([], 0, "sum_values: "),
    ],
    "parameter_server": BAD_COMMON + [
        (["--rounds"], 2, "--rounds needs a value"),
        (["--rounds", "0"], 2, '--rounds takes a whole number from 1 to 100000, not "0"'),
        (["--shards", "abc"], 2, '--shards takes a whole number from 1 to 256, not "abc"'),
        (["--shards", "257"], 2, 'not "257"'),
        (["--workers", "-1"], 2, '--workers takes a whole number from 1 to 1024, not "-1"'),
        (["--help"], 0, "usage: "),
        ([], 0, "converged: loss "),
        (["--workers", "1", "--shards", "3", "--rounds", "25"], 0, "converged: loss "),
    ],
    "nested": BAD_COMMON + [
        (["-n", "4"], 2, 'unknown flag "-n"'),
        ([], 0, "]"),
    ],
}


def run(path, args):
    """Runs the demo in a session of its own, so a hung one is killed with all its processes."""
    p = subprocess.Popen([path] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True)
    try:
        out, err = p.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        return None, out, err
    return p.returncode, out, err


def check(name, path):
    """Runs every case of one demo; returns (cases, failures)."""
    failures = 0
    for args, want_rc, want_text in CASES[name]:
        rc, out, err = run(path, args)
        text = err if want_rc == 2 else out
        ok = rc == want_rc and want_text in text
        if want_rc == 2:
            ok = ok and "usage: " in err and out == ""  # refused before it printed or started anything
        print(f"{'ok  ' if ok else 'FAIL'} {name} {' '.join(args) or '(no arguments)'}: exit {rc}")
        if not ok:
            failures += 1
            print(f"  want exit {want_rc} and {want_text!r}\n  stdout: {out!r}\n  stderr: {err!r}")
    return len(CASES[name]), failures


def main(argv):
    if len(argv) < 2:
        print(__doc__)
        return 2
    cases = failures = 0
    for spec in argv[1:]:
        name, _, path = spec.partition("=")
        if name not in CASES:
            print(f"FAIL no cases for demo {name!r}")
            cases, failures = cases + 1, failures + 1
            continue
        n, f = check(name, path)
        cases, failures = cases + n, failures + f
    print(f"[checks] test cases: {cases} | {cases - failures} passed | {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
