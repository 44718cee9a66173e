#!/usr/bin/env python3
"""check_compile_fail.py COMPILER... SOURCE: compiles SOURCE (syntax only) and checks the
outcome its first line announces: "// expect: compiles", or "// expect: <text>" meaning the
build must fail and the diagnostics must contain <text>."""
import subprocess
import sys

cmd, source = sys.argv[1:-1], sys.argv[-1]
first = open(source).readline().strip()
if not first.startswith("// expect:"):
    print(f"{source}: first line must be '// expect: ...'")
    sys.exit(2)
expect = first[len("// expect:"):].strip()
run = subprocess.run(cmd + ["-fsyntax-only", source], capture_output=True, text=True)
if expect == "compiles":
    if run.returncode != 0:
        print(run.stderr[-4000:])
        print("FAIL: expected to compile")
        sys.exit(1)
    print("ok: compiles")
    sys.exit(0)
if run.returncode == 0:
    print(f"FAIL: compiled, but should fail with: {expect}")
    sys.exit(1)
if expect not in run.stderr:
    print(run.stderr[-4000:])
    print(f"FAIL: failed without the message: {expect}")
    sys.exit(1)
print(f"ok: fails with: {expect}")
