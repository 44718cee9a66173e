#!/usr/bin/env python3
"""Fails (exit 1) when a C++ file of the project is not as .clang-format would write it.

Prints each file that differs and the command that fixes it. Skips (exit 77, meson's
"skipped") when no clang-format is installed, so a machine without it still builds and tests.

The tree is formatted by clang-format 14 (Debian 12's; EXPECTED_MAJOR below). Other versions
format the same .clang-format differently, so with another one the check skips, saying which
version it found and which it needs, rather than report files that are in fact formatted,
and --fix refuses rather than rewrite the tree in another version's style. CLANG_FORMAT=path
picks the program; SHMRAY_ANY_CLANG_FORMAT=1 uses whatever version it is.

Usage: check_format.py [SOURCE_ROOT] [--fix]   (default root: the repository this script is in)
"""
import os
import re
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


EXPECTED_MAJOR = 14


def find_clang_format():
    """The clang-format to use: $CLANG_FORMAT, else clang-format-14, else clang-format."""
    for name in (os.environ.get("CLANG_FORMAT"), f"clang-format-{EXPECTED_MAJOR}", "clang-format"):
        path = shutil.which(name) if name else None
        if path:
            return path
    return None


def major_version(tool):
    """The major version clang-format prints ("... clang-format version 14.0.6 ..."), or None."""
    out = subprocess.run([tool, "--version"], stdout=subprocess.PIPE, text=True).stdout
    m = re.search(r"clang-format version (\d+)\.", out)
    return int(m.group(1)) if m else None


def main(argv):
    fix = "--fix" in argv
    args = [a for a in argv if a != "--fix"]
    root = os.path.abspath(args[0] if args else os.path.join(os.path.dirname(__file__), ".."))
    tool = find_clang_format()
    if tool is None:
        print("clang-format not installed: format check skipped (apt-get install clang-format)")
        return 77
    major = major_version(tool)
    if major != EXPECTED_MAJOR and os.environ.get("SHMRAY_ANY_CLANG_FORMAT") != "1":
        found = f"clang-format {major}" if major else "a clang-format of unknown version"
        print(f"{tool} is {found}, but the tree is formatted with clang-format {EXPECTED_MAJOR}: "
              "other versions format differently. Install clang-format-14 (or set CLANG_FORMAT to "
              "it); SHMRAY_ANY_CLANG_FORMAT=1 runs this one anyway.")
        if fix:
            print("--fix not run: it would rewrite files in another version's style")
            return 2
        print("format check skipped")
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
