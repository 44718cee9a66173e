#!/usr/bin/env python3
"""check_installed.py BUILD_DIR SOURCE CXX...: installs the build into a scratch DESTDIR,
builds SOURCE the way a user would (CXX -std=c++17 SOURCE $(pkg-config --cflags --libs
shmray-ray)), runs it and expects its last output line to be "ok"."""
import glob
import os
import subprocess
import sys
import tempfile

build, source, cxx = sys.argv[1], sys.argv[2], sys.argv[3:]
with tempfile.TemporaryDirectory(prefix="shmray-ray-install-") as dest:
    subprocess.run(["meson", "install", "-C", build, "--no-rebuild", "--quiet", "--destdir", dest], check=True,
                   stdout=subprocess.DEVNULL)
    pcs = glob.glob(os.path.join(dest, "**", "shmray-ray.pc"), recursive=True)
    if not pcs:
        sys.exit("FAIL: no shmray-ray.pc was installed")
    pcdir = os.path.dirname(pcs[0])
    with open(pcs[0]) as f:
        prefix = next(l.split("=", 1)[1].strip() for l in f if l.startswith("prefix="))
    env = dict(os.environ, PKG_CONFIG_PATH=pcdir)
    flags = subprocess.run(["pkg-config", "--define-variable=prefix=" + dest + prefix, "--cflags", "--libs",
                            "shmray-ray"], env=env, check=True, capture_output=True, text=True).stdout.split()
    print("pkg-config:", " ".join(flags))
    if any(f.startswith("-std=") for f in flags):
        sys.exit("FAIL: shmray-ray.pc must not set the language standard")
    exe = os.path.join(dest, "app")
    subprocess.run(cxx + ["-std=c++17", source, "-o", exe] + flags, check=True)
    libdirs = [f[2:] for f in flags if f.startswith("-L")]
    run = subprocess.run([exe], env=dict(os.environ, LD_LIBRARY_PATH=":".join(libdirs)), capture_output=True,
                         text=True, timeout=120)
    print(run.stdout, run.stderr)
    if run.returncode != 0 or run.stdout.strip().splitlines()[-1:] != ["ok"]:
        sys.exit("FAIL: the installed program did not print ok")
print("ok: built with pkg-config shmray-ray and ran")
