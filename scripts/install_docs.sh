#!/usr/bin/env bash
# meson install script (option docs_html): doxygen's HTML of the public API into
# $DESTDIR$prefix/DOCDIR/html. A doxygen warning never fails an install: the Doxyfile's
# WARN_AS_ERROR is turned off here and the warnings are printed (the 'docs' test suite,
# scripts/check_docs.sh, is what fails on a warning).
# Usage (from meson.add_install_script): install_docs.sh SOURCE_ROOT DOCDIR
set -euo pipefail
src=${1:?usage: install_docs.sh SOURCE_ROOT DOCDIR}
docdir=${2:?usage: install_docs.sh SOURCE_ROOT DOCDIR}
out="${MESON_INSTALL_DESTDIR_PREFIX:?run by meson install}/$docdir"
mkdir -p "$out"
cd "$src"  # the Doxyfile's paths are relative to the root
warnings=$(mktemp)
trap 'rm -f "$warnings"' EXIT
# Later settings win: the output moved into the install tree, warnings not errors, and
# written to a file so that they can be counted and shown.
{ cat Doxyfile; echo "OUTPUT_DIRECTORY = \"$out\""; echo "WARN_AS_ERROR = NO"; echo "WARN_LOGFILE = \"$warnings\""; } |
  doxygen - >/dev/null
if [[ -s $warnings ]]; then
  echo "install_docs.sh: doxygen gave $(grep -c 'warning:' "$warnings") warning(s); the API reference is installed anyway:"
  sed 's/^/  /' "$warnings" | head -n 20
fi
rm -rf "$out/latex"  # only the HTML is installed
[[ ${MESON_INSTALL_QUIET:-} ]] || echo "Installing API reference to $out/html"
