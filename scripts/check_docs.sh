#!/usr/bin/env bash
# The 'docs' suite: doxygen over the public headers (Doxyfile at the root) must give no
# warning: every public declaration documented, every doc comment well formed. Exit 77
# (meson: skipped) when doxygen is not installed (Debian: apt-get install doxygen).
# Usage: check_docs.sh SOURCE_ROOT OUTPUT_DIR   (the HTML goes to OUTPUT_DIR/html)
set -euo pipefail
src=${1:?usage: check_docs.sh SOURCE_ROOT OUTPUT_DIR}
out=${2:?usage: check_docs.sh SOURCE_ROOT OUTPUT_DIR}
if ! command -v doxygen >/dev/null 2>&1; then
  echo "doxygen not found: skipped"
  exit 77
fi
mkdir -p "$out"
cd "$src"  # the Doxyfile's paths are relative to the root
# The same Doxyfile, with the output moved into the build dir. WARN_AS_ERROR=FAIL_ON_WARNINGS
# in it prints every warning, then exits non-zero.
{ cat Doxyfile; echo "OUTPUT_DIRECTORY = \"$out\""; } | doxygen -
echo "doxygen: no warnings; HTML in $out/html"
