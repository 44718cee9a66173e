#!/usr/bin/env bash
# Runs a command beside K busy-loop processes (default K = 2 x CPUs, as shmray_bench's
# *_loaded rows use), so that every CPU has a process queued behind the command's own:
#   ./scripts/with_hogs.sh /usr/bin/python3 ../shared/peers/peers.py --only mp_pool,tasks_sync_per_s
#   HOGS=6 ./scripts/with_hogs.sh build/bench/shmray_bench --only tasks_sync_per_s
# The hogs are killed and reaped when the command ends, however it ends (trap on EXIT); the
# script exits with the command's status.
set -uo pipefail
(($#)) || { echo "usage: $0 COMMAND [ARG...]" >&2; exit 2; }
k=${HOGS:-$((2 * $(nproc)))}
pids=()
stop() {
  ((${#pids[@]})) && kill -KILL "${pids[@]}" 2>/dev/null
  ((${#pids[@]})) && wait "${pids[@]}" 2>/dev/null
  pids=()
}
trap stop EXIT
trap 'exit 130' INT TERM
for ((i = 0; i < k; i++)); do
  sh -c 'while :; do :; done' &
  pids+=($!)
done
echo "with_hogs: $k busy-loop processes running (pids ${pids[*]})" >&2
"$@"
rc=$?
stop
exit $rc
