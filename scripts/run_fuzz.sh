#!/usr/bin/env bash
# run_fuzz.sh FUZZER SEED_DIR SECONDS: runs a libFuzzer target over a copy of its seed
# corpus (new inputs go to a temporary directory, never into the repository). Exits non-zero
# on a crash, a leak, a timeout or an out-of-memory; prints the reproducer's bytes then.
set -uo pipefail
fuzzer=$1 seeds=$2 seconds=$3
work=$(mktemp -d /tmp/shmray-fuzz-XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus"
"$fuzzer" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
  -artifact_prefix="$work/" "$work/corpus" "$seeds" 2>&1 | tail -25
rc=${PIPESTATUS[0]}
for a in "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-*; do
  [[ -f $a ]] && { echo "artifact: $(basename "$a")"; od -A x -t x1z "$a" | head -20; }
done
exit "$rc"
