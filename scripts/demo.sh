#!/usr/bin/env bash
# Installs the build dependencies if they are missing (Debian/Ubuntu), builds shmray and
# runs the main demo: results in submission order versus as they become available.
#   ./scripts/demo.sh [demo arguments, e.g. --workers 2 --unit-ms 50]
set -euo pipefail
cd "$(dirname "$0")/.."
pkgs=(meson ninja-build g++ pkg-config libboost-dev libboost-filesystem-dev libcereal-dev libmsgpack-cxx-dev doctest-dev)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  sudo=""; [[ $(id -u) -ne 0 ]] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi
[[ -f build/build.ninja ]] || meson setup build
meson compile -C build demo/in_order_vs_as_available
exec build/demo/in_order_vs_as_available "$@"
