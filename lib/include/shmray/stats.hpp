#pragma once
/// @file stats.hpp
/// What the pool is doing: tasks by state, per function counts and latency, workers, the
/// store (stats()).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>
#include "shmray/api.hpp"
#include "shmray/detail/config.hpp"

namespace shmray {

/// Tasks by state. Each task submitted is in exactly one of them at a time.
struct TaskCounts {
  std::uint64_t queued = 0;     ///< ready to run, not yet taken by a worker (or held back: no room, no CPUs)
  std::uint64_t waiting = 0;    ///< waiting for the results of the tasks its arguments come from
  std::uint64_t running = 0;    ///< a worker runs it (inline ones included)
  std::uint64_t finished = 0;   ///< since init(): ended with a result
  std::uint64_t failed = 0;     ///< since init(): ended with an error (threw, crashed, a failed argument)
  std::uint64_t cancelled = 0;  ///< since init(): cancelled or timed out, counted when it left its worker
};

/// One remote function's (or actor method's) tasks.
struct FunctionStats {
  std::string name;  ///< its registered name
  TaskCounts tasks;  ///< its tasks by state
  /// Median and 99th percentile of the time from submission to result, over the finished
  /// and failed tasks since init(), in seconds; estimated from a histogram with fixed
  /// buckets (10 us .. 60 s, about 2.5x apart), so good to within a bucket. 0: none yet.
  double p50_seconds = 0;
  double p99_seconds = 0;  ///< see p50_seconds
};

/// A picture of the pool (stats()). The gauges (queued, waiting, running, workers) are read
/// without stopping the pool, so while tasks move they are a moment's picture.
struct Stats {
  TaskCounts tasks;                      ///< all tasks
  std::vector<FunctionStats> functions;  ///< the functions that have had tasks, by registry order
  std::size_t workers = 0;               ///< live worker processes of the task pool (actors not counted)
  std::uint64_t retries = 0;             ///< tasks run again because their worker process died
  std::uint64_t restarts = 0;            ///< worker and actor processes started again after one died
  StoreStats store;                      ///< as store_stats()
  std::string dashboard_url;             ///< the dashboard's address ("http://127.0.0.1:8265/"); empty: none
};

/// The pool's figures now. Driver only: inside a task it throws Error (the counters live in
/// the driver process, which alone sees every task); store_stats() works in tasks.
/// NotInitializedError before init(). Cheap: no task waits for it.
SHMRAY_API Stats stats();

}  // namespace shmray
