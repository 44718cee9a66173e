#!/usr/bin/env python3
"""Fails (exit 1) when a C++ file of the project is not as .clang-format would write it.

Prints each file that differs and the command that fixes it. Skips (exit 77, meson's
"skipped") when no clang-format is installed, so a machine without it still builds and tests.

Usage: check_format.py [SOURCE_ROOT] [--fix]   (default root: the repository this script is in)
"""
import os
import shutil
import subprocess
import sys

DIRS = ("lib", "workerproc", "demo", "test", "bench", "ray")
EXTS = (".cpp", ".hpp", ".h", ".cc")
# Inputs kept byte-exact on purpose (fuzz seeds are data, not code).
SKIP_PARTS = ("corpus",)


def sources(root):
    for top in DIRS:
        for dirpath, dirnames, filenames in os.walk(os.path.join(root, top)):
            dirnames[:] = sorted(d for d in dirnames if d not in SKIP_PARTS)
            for name in sorted(filenames):
                if name.endswith(EXTS):
                    yield os.path.join(dirpath, name)


def find_clang_format():
    for name in ("clang-format", "clang-format-16", "clang-format-15", "clang-format-14"):
        path = shutil.which(name)
        if path:
            return path
    return None


def main(argv):
    fix = "--fix" in argv
    args = [a for a in argv if a != "--fix"]
    root = os.path.abspath(args[0] if args else os.path.join(os.path.dirname(__file__), ".."))
    tool = find_clang_format()
    if tool is None:
        print("clang-format not installed: format check skipped (apt-get install clang-format)")
        return 77
    files = list(sources(root))
    if fix:
        subprocess.run([tool, "-i", "--style=file"] + files, check=True, cwd=root)
        return 0
    bad = []
    for path in files:
        with open(path, "rb") as f:
            before = f.read()
        after = subprocess.run([tool, "--style=file", "--assume-filename=" + path], input=before,
                               stdout=subprocess.PIPE, check=True, cwd=root).stdout
        if after != before:
            bad.append(os.path.relpath(path, root))
    for rel in bad:
        print(f"{rel}: not formatted as .clang-format says")
    if bad:
        print(f"{len(bad)} of {len(files)} files differ; fix with: scripts/check_format.py --fix")
        return 1
    print(f"{len(files)} files formatted as .clang-format says")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
