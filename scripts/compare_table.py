#!/usr/bin/env python3
"""compare_table.py SHMRAY_JSON PEERS_JSON MODE: the markdown table of scripts/compare.sh.

One row per workload of the peers' harness (in its order), then shmray's own workloads.
"vs best peer" divides the better by the worse of shmray and the best peer that ran it
(rates: higher is better; seconds: lower is better); where a hardware floor applies
(LIMITS: figures measured on the reference machine), the last column names it."""
import json
import platform
import sys
import time

PEERS = ["dask", "processpool", "mp_pool"]
ORDER = ["startup_s", "tasks_sync_per_s", "tasks_async_per_s", "tasks_and_get_batch_per_s", "wait_1k_refs_per_s",
         "put_gigabytes_per_s", "pipeline_large_s", "in_order_s", "as_available_s", "nested_fib",
         "cancel_running_s", "worker_crash"]
HIGHER_BETTER = {"tasks_sync_per_s", "tasks_async_per_s", "tasks_and_get_batch_per_s", "wait_1k_refs_per_s",
                 "put_gigabytes_per_s", "tasks_async_per_s_1w", "tasks_async_per_s_4w",
                 "tasks_sync_per_s_loaded", "tasks_async_per_s_loaded"}
# Workloads where only some peers do the same thing: worker_crash is compared with Dask, the
# only peer that retries the task and keeps its pool (ProcessPool raises BrokenProcessPool at
# once and is dead after; mp.Pool never reports the failure).
COMPARE_WITH = {"worker_crash": ["dask"]}
NOTES = {
    "worker_crash": "shmray: WorkerCrashedError after 3 retries (4 attempts), pool whole; "
                    "Dask: KilledWorker after 3 retries; ProcessPool: BrokenProcessPool, pool dead; mp.Pool: hang",
    "cancel_running_s": "shmray stops the task (force: its worker is killed and replaced); "
                        "Dask reports it cancelled but the task runs on",
    "put_gigabytes_per_s": "ProcessPool and mp.Pool have no store: the array goes as a task argument",
    "pipeline_large_s": "shmray: Buffer result + View parameter (no copy); see pipeline_large_s_copy for "
                        "std::vector + const&. ProcessPool/mp.Pool: the array goes through the driver",
}
LIMITS = {
    "tasks_sync_per_s": "spin round trip 0.23-0.29 us: <= ~4M/s",
    "put_gigabytes_per_s": "memcpy 64-512 MiB: 8-10.7 GB/s",
    "pipeline_large_s": "fill + read 100 MiB once each: ~15-20 ms",
    "startup_s": "fork of a small process: 0.3 ms",
    "cancel_running_s": "futex wake across CPUs: ~35 us",
}


def fmt(x):
    if x is None:
        return "-"
    if x >= 1000:
        return f"{x:,.0f}"
    if x >= 100:
        return f"{x:.0f}"
    if x >= 1:
        return f"{x:.3g}" if x < 10 else f"{x:.1f}"
    return f"{x:.3g}"


def cell(entry):
    if not entry:
        return "-", None
    st = entry.get("status")
    if st != "ok":
        return st or "-", None
    med = entry.get("median")
    text = f"{fmt(med)} [{fmt(entry.get('min'))}-{fmt(entry.get('max'))}]"
    return text, med


def main():
    ours = json.load(open(sys.argv[1]))["results"]["shmray"]
    peers = json.load(open(sys.argv[2]))["results"]
    mode = sys.argv[3] if len(sys.argv) > 3 else "full"
    rows = ["| workload | shmray | dask | processpool | mp_pool | shmray vs best peer | floor here |",
            "|---|---|---|---|---|---|---|"]
    names = ORDER + [w for w in ours if w not in ORDER]
    for w in names:
        s_text, s_val = cell(ours.get(w))
        p_cells, best = [], None
        for p in PEERS:
            text, val = cell(peers.get(p, {}).get(w))
            p_cells.append(text)
            if p not in COMPARE_WITH.get(w, PEERS):
                continue
            if val is not None and val > 0:
                better = (val > best) if (w in HIGHER_BETTER and best is not None) else (best is None or val < best)
                if best is None or better:
                    best = val
        ratio = "-"
        if s_val and best:
            r = s_val / best if w in HIGHER_BETTER else best / s_val
            ratio = f"{r:,.0f}x" if r >= 10 else f"{r:.2f}x"
        rows.append(f"| {w} | {s_text} | " + " | ".join(p_cells) + f" | {ratio} | {LIMITS.get(w, '')} |")
    cpu = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    print(f"Machine: {cpu}, {platform.machine()}, Linux {platform.release()}; mode: {mode}; "
          f"date: {time.strftime('%Y-%m-%d')}; command: `./scripts/compare.sh{' --quick' if mode == '--quick' else ''}`")
    print("Cells: median [min-max] over repetitions; units as in ../shared/peers/README.md "
          "(rates per second, others in seconds, put in GB/s). \"x\": how many times shmray is better.\n")
    print("\n".join(rows))
    notes = [f"- {w}: {NOTES[w]}" for w in names if w in NOTES]
    if notes:
        print("\n" + "\n".join(notes))


if __name__ == "__main__":
    main()
