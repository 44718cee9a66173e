#pragma once
/// @file options.hpp
/// Plain option structs for init, task submission, wait and cancel (designated-initializer friendly).
#include "shmray/detail/config.hpp"
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>

namespace shmray {

/// Options of `init()`.
/// @code
/// shmray::init({.num_workers = 4, .object_store_bytes = 256 << 20});
/// @endcode
struct Options {
  /// Worker processes to start; 0: std::thread::hardware_concurrency(). At most 1024.
  unsigned num_workers = 0;
  /// Bytes of the shared object store; 0: 1 GiB (capped at half of physical memory).
  /// At least 1 MiB.
  std::size_t object_store_bytes = 0;
  /// Worker stdout/stderr reach the driver's, each line prefixed "(pid=N) ".
  bool log_to_driver = true;
  /// No start-up line on stderr.
  bool quiet = false;
  /// Upper bound on worker processes, counting extra workers started while others are
  /// blocked in get/wait inside a task; 0: 4 * num_workers (at least num_workers + 4).
  unsigned max_workers = 0;
  /// How long a put or a task result waits for store space before ObjectStoreFullError.
  std::chrono::milliseconds store_full_timeout{2000};
};

/// Options of one submission: `task(f).options({...}).remote(...)`.
struct TaskOptions {
  /// For logs and errors; default: the function's registered name.
  std::string name{};
  /// Re-runs after the worker process died.
  int max_retries = 3;
  /// Also re-run when the task threw.
  bool retry_exceptions = false;
  /// CPU slots the task holds while it runs. A task asking for more than the runtime has
  /// stays pending (as in Ray). Values below 1 count as one worker: a worker process runs
  /// one task at a time.
  double num_cpus = 1;
};

/// Options of `wait()`.
struct WaitOptions {
  std::size_t num_returns = 1;
  /// None: wait without limit.
  std::optional<std::chrono::nanoseconds> timeout{};
  /// Accepted for Ray compatibility; every object is local here.
  bool fetch_local = true;
};

/// Options of `cancel()`.
struct CancelOptions {
  /// Kill the worker process running the task (it is replaced); otherwise the task sees
  /// `cancelled()` turn true.
  bool force = false;
  /// Also cancel the tasks the cancelled task submitted.
  bool recursive = true;
};

}  // namespace shmray
