#!/usr/bin/env bash
# Runs the peer harness (Dask, ProcessPoolExecutor, multiprocessing.Pool) and shmray_bench
# on this machine, one after the other, and writes a markdown table of both side by side.
#   ./scripts/compare.sh [--quick] [--loaded] [--out FILE.md]   (full: ~10 min, quick: ~2 min)
# --loaded runs both harnesses beside 2 x CPUs busy-loop processes (scripts/with_hogs.sh): a
# busy machine. (shmray_bench's own *_loaded rows then run beside twice as many.)
# FILE.md gets the table; FILE.shmray.json and FILE.peers.json every figure of both runs.
# The peer harness (peers.py) is not part of this repository: PEERS=path/to/peers.py says
# where it is (without PEERS, the script looks for it at the default path below).
set -euo pipefail
cd "$(dirname "$0")/.."
mode=() out=compare.md hogs=()
while (($#)); do
  case $1 in
    --quick) mode=(--quick) ;;
    --loaded) hogs=(./scripts/with_hogs.sh) ;;
    --out) out=$2; shift ;;
    *) echo "usage: $0 [--quick] [--loaded] [--out FILE]" >&2; exit 2 ;;
  esac
  shift
done
peers=${PEERS:-../shared/peers/peers.py}
[[ -f $peers ]] || { echo "no peer harness at $peers (set PEERS=...)" >&2; exit 2; }
if ! /usr/bin/python3 -c "import distributed, numpy" 2>/dev/null; then
  echo "installing python3-distributed and python3-numpy for the Dask peer" >&2
  sudo=""; [[ $(id -u) -ne 0 ]] && sudo="sudo"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-distributed python3-numpy >&2
fi
[[ -f build-release/build.ninja ]] || meson setup build-release --buildtype=release -Dtests=false -Ddemos=false >&2
ninja -C build-release bench/shmray_bench >&2
work=$(mktemp -d /tmp/shmray-compare-XXXXXX)
trap 'rm -rf "$work"' EXIT
echo "peers ${mode[*]:-full} ..." >&2
"${hogs[@]}" /usr/bin/python3 "$peers" "${mode[@]}" --json "$work/peers.json" >&2
echo "shmray_bench ${mode[*]:-full} ..." >&2
"${hogs[@]}" build-release/bench/shmray_bench "${mode[@]}" --json "$work/shmray.json" >&2
python3 scripts/compare_table.py "$work/shmray.json" "$work/peers.json" "${mode[*]:-full}" > "$out"
cp "$work/shmray.json" "${out%.md}.shmray.json"  # every repetition, for a closer look
cp "$work/peers.json" "${out%.md}.peers.json"
cat "$out"
