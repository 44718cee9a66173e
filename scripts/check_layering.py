#!/usr/bin/env python3
"""Fails (exit 1) when an #include in lib/src breaks the layering; prints file:line and the rule.

The layers of lib/src, lowest first:
  shm/     the segment, rings, heap, futex: includes nothing of the others
  wire/    what both roles agree on (control kinds, fork protocol, records): shm/ only
  common/  code both roles run (checks, views, waits): shm/ and wire/ only
  driver/  the host process's side          } neither includes the other,
  worker/  the fork server's and workers'   } except ALLOWED below
The public headers (lib/include/shmray/...) and system headers may be included anywhere.

Usage: check_layering.py [SOURCE_ROOT]   (default: the repository this script is in)
"""
import os
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]([^">]+)[">]')
LAYERS = ("shm", "wire", "common", "driver", "worker")

# (layer of the including file, layer it must not include, why)
RULES = [
    ("shm", ("wire", "common", "driver", "worker"), "shm/ is the bottom layer: it includes no other part of lib/src"),
    ("wire", ("common", "driver", "worker"), "wire/ is shared by both roles: it includes only shm/"),
    ("common", ("driver", "worker"), "common/ is shared by both roles: it includes only shm/ and wire/"),
    ("driver", ("worker",), "the driver includes no worker-side header (put what both agree on in wire/)"),
    ("worker", ("driver",), "the worker side includes nothing of driver/ (put what both agree on in wire/)"),
]

# The one driver -> worker edge: Driver::start_fork_server (driver/worker_pool.cpp) forks the
# fork server and calls worker::fork_server_main in the child, so it needs that declaration.
# worker/fork_server.hpp is kept to shm/ and wire/ (checked below), so the edge pulls in no
# worker internals and the worker side still never sees the driver.
ALLOWED = {("driver/worker_pool.cpp", "worker/fork_server.hpp")}
ENTRY_HEADER = "worker/fork_server.hpp"
ENTRY_MAY_INCLUDE = ("shm", "wire")


def layer_of(path):
    head = path.split("/", 1)[0]
    return head if head in LAYERS and "/" in path else None


def resolve(src, rel_file, inc):
    """The include as a path relative to lib/src (quoted includes may be relative to the file)."""
    here = os.path.normpath(os.path.join(src, os.path.dirname(rel_file), inc))
    if os.path.isfile(here):
        return os.path.relpath(here, src).replace(os.sep, "/")
    return os.path.normpath(inc).replace(os.sep, "/")


def check_file(src, rel_file):
    errors = []
    mine = layer_of(rel_file)
    with open(os.path.join(src, rel_file), encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            m = INCLUDE.match(line)
            if not m:
                continue
            inc = m.group(1)
            target = resolve(src, rel_file, inc)
            where = f"lib/src/{rel_file}:{n}"
            if target.startswith("workerproc/") or inc.startswith("../"):
                errors.append(f"{where}: includes \"{inc}\": include paths are relative to lib/src, never to the root")
                continue
            theirs = layer_of(target)
            if mine is None or theirs is None or (rel_file, target) in ALLOWED:
                continue
            for layer, banned, why in RULES:
                if mine == layer and theirs in banned:
                    errors.append(f"{where}: includes \"{inc}\": {why}")
            if rel_file == ENTRY_HEADER and theirs not in ENTRY_MAY_INCLUDE:
                errors.append(f"{where}: includes \"{inc}\": {ENTRY_HEADER} is the driver's one way in, "
                              f"so it includes only {'/ and '.join(ENTRY_MAY_INCLUDE)}/")
    return errors


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    src = os.path.join(root, "lib", "src")
    errors = []
    files = 0
    for dirpath, _, names in os.walk(src):
        for name in sorted(names):
            if name.endswith((".hpp", ".cpp", ".h")):
                files += 1
                errors += check_file(src, os.path.relpath(os.path.join(dirpath, name), src).replace(os.sep, "/"))
    for e in errors:
        print(e)
    if errors:
        print(f"check_layering: {len(errors)} violation(s) in lib/src")
        return 1
    if os.path.isdir(os.path.join(root, "workerproc")):
        stray = [n for n in os.listdir(os.path.join(root, "workerproc")) if n.endswith((".hpp", ".cpp"))]
        if stray:
            print(f"workerproc/{stray[0]}: worker sources live in lib/src/worker/, workerproc/ holds only the build target")
            return 1
    print(f"check_layering: {files} files in lib/src, layering holds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
