#!/usr/bin/env bash
# meson install script (option docs_html): doxygen's HTML of the public API, checked as the
# 'docs' suite checks it (no warning), into $DESTDIR$prefix/DOCDIR/html.
# Usage (from meson.add_install_script): install_docs.sh SOURCE_ROOT DOCDIR
set -euo pipefail
src=${1:?usage: install_docs.sh SOURCE_ROOT DOCDIR}
docdir=${2:?usage: install_docs.sh SOURCE_ROOT DOCDIR}
out="${MESON_INSTALL_DESTDIR_PREFIX:?run by meson install}/$docdir"
"$src/scripts/check_docs.sh" "$src" "$out" >/dev/null
rm -rf "$out/latex"  # only the HTML is installed
[[ ${MESON_INSTALL_QUIET:-} ]] || echo "Installing API reference to $out/html"
