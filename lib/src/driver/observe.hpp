#pragma once
// What the pool is doing now, read without the driver's lock: the state words of the shared
// task table and worker slots (a scan, no lock, no write), plus the driver's cumulative
// Counters. Used by stats() and by the dashboard's thread, which must never slow the pool:
// nothing here takes Driver::mu_ or writes to the segment. A scan races with the processes
// that change the words; each task is counted in the state one read of its word showed, so
// the figures are a moment's picture, not a transaction.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/views.hpp"
#include "driver/counters.hpp"

namespace shmray::driver {

struct StateCounts {
  std::uint64_t queued = 0, waiting = 0, running = 0, finished = 0, failed = 0, cancelled = 0;
};

struct WorkerView {
  std::uint32_t slot = 0;
  std::int32_t pid = 0;
  std::uint32_t state = 0;       // shm::WorkerState
  std::uint64_t task_ref = 0;    // outermost task on its stack, 0 when idle
  std::uint32_t function = ~0u;  // that task's function index (~0u: none or unknown)
  std::uint64_t tasks_run = 0;
  bool actor = false;  // an actor's process (slots past pool_slots)
};

struct TaskView {
  std::uint64_t ref = 0;
  std::uint32_t function = 0;
  std::uint8_t state = 0;     // shm::TaskState
  std::int32_t worker = -1;   // slot of the worker that runs it, -1 when none
  std::uint32_t attempt = 0;  // re-runs after crashes so far
};

struct Observation {
  StateCounts total;
  std::vector<StateCounts> per_function;  // by Counters index (the last: "(other)")
  std::vector<WorkerView> workers;        // live processes only
  std::size_t pool_workers = 0;           // of them, the task pool's (not actors')
  std::uint64_t retries = 0, restarts = 0;
};

/// `outside_table`: submissions the driver holds outside the table (backlog, infeasible),
/// counted as queued.
Observation observe(const common::Views& v, const Counters& c, std::uint64_t outside_table);

/// The live worker and actor processes (a cheap scan of the worker slots only).
void observe_workers(const common::Views& v, std::vector<WorkerView>& out);

/// Tasks in the table now in `state` (kWaiting, kQueued, kClaimed), at most `limit`.
std::vector<TaskView> list_tasks(const common::Views& v, std::uint8_t state, std::size_t limit);

struct StoreView {
  std::uint64_t capacity_bytes = 0, payload_bytes = 0, objects = 0, spans = 0, span_bytes = 0;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> largest;  // (ObjectId, payload bytes), largest first
};
/// A scan of the first `hwm` object slots (those ever used). Counts payload bytes (what was
/// stored), not the arena blocks that hold them.
StoreView observe_store(const common::Views& v, std::uint32_t hwm, std::size_t largest);

/// The `q` quantile (0..1) of a function's latency histogram in seconds, interpolated within
/// its bucket; 0 when nothing was recorded.
double latency_quantile(const FunctionCounters& f, double q);

}  // namespace shmray::driver
