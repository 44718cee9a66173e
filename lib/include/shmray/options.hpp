#pragma once
/// @file options.hpp
/// Plain option structs for init, task submission, wait and cancel (designated-initializer friendly).
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include "shmray/detail/config.hpp"
#include "shmray/log.hpp"

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
  /// Worker stdout/stderr reach the driver's, each line prefixed "(pid=N, task=NAME) " while
  /// the worker runs a task (TaskOptions::name, else the function's name), "(pid=N) "
  /// otherwise. The name is the one when the line is read: a line the relay reads after
  /// its worker started another task can carry that task's name.
  bool log_to_driver = true;
  /// No start-up line on stderr.
  bool quiet = false;
  /// Upper bound on worker processes, counting extra workers started while others are
  /// blocked in get/wait inside a task; 0: 4 * num_workers (at least num_workers + 4).
  unsigned max_workers = 0;
  /// Actors that may live at once (each has a process of its own); 0: 64. The slots for
  /// actors and max_workers together are at most 1024.
  unsigned max_actors = 0;
  /// How long a put or a task result waits for store space before ObjectStoreFullError.
  std::chrono::milliseconds store_full_timeout{2000};
  /// Record a task timeline and write it to this file at shutdown(): Chrome trace event
  /// JSON, for ui.perfetto.dev or chrome://tracing (one slice per task attempt on its
  /// worker's track, the driver's get/wait blocks, dependency arrows). Empty: no timeline,
  /// unless the environment variable SHMRAY_TIMELINE names a file. See shmray::timeline().
  std::string timeline{};
  /// Serve the live dashboard (a web page, /api/state, /api/tasks, Prometheus /metrics) over
  /// HTTP from the driver at this "host:port", e.g. "127.0.0.1:8265"; ":0" picks a free
  /// port (stats().dashboard_url tells which). A port alone binds 127.0.0.1. Empty: the
  /// environment variable SHMRAY_DASHBOARD, and without it no dashboard. The host is an IP
  /// address or localhost. Warning: a non-loopback host ("0.0.0.0") lets every machine that
  /// reaches this one read it; it has no authentication.
  std::string dashboard{};
  /// Where shmray's own messages go (the start-up line, warnings, crash reports), instead of
  /// the driver's stderr; empty: stderr, as without it. Worker output (Options::log_to_driver)
  /// is not among them: it goes to the driver's stdout/stderr as before. The sink is called
  /// in the driver process only, one call at a time (it need not be thread-safe), from the
  /// thread the message arises on: init()'s caller for the start-up line and init()'s
  /// warnings, the runtime's event thread for crash reports and most warnings, the caller of
  /// shutdown() for its own. It should return soon and must not call shmray (the event
  /// thread may hold the runtime's lock). What it throws is caught and the message dropped;
  /// a message the sink itself causes goes to stderr. `quiet` drops the start-up line here
  /// too. Replaced by the next init(), dropped at shutdown().
  LogSink log_sink{};
};

/// Options of one submission: `task(f).options({...}).remote(...)`.
struct TaskOptions {
  /// For logs and errors; default: the function's registered name.
  std::string name{};
  /// Re-runs after the worker process died; -1: without limit (below -1: std::invalid_argument).
  int max_retries = 3;
  /// Also re-run when the task threw.
  bool retry_exceptions = false;
  /// CPU slots the task holds while it runs. A task asking for more than the runtime has
  /// stays pending (as in Ray). Values below 1 count as one worker: a worker process runs
  /// one task at a time.
  double num_cpus = 1;
  /// A deadline for the task, counted from its submission (time queued counts): a task not
  /// finished by then is cancelled with force (a queued one never runs, a running one's
  /// worker process is killed and replaced, its retries end) and get() throws
  /// TaskTimeoutError, as do tasks that depend on it. None: no limit. Must be positive
  /// (std::invalid_argument otherwise). Not for actor calls. A task that its waiting parent
  /// ran inline (no worker took it for 2 s) is first told through cancelled(); if it still
  /// runs 1 s later, its worker is killed and the tasks it ran under run again.
  std::optional<std::chrono::nanoseconds> timeout{};
};

/// Options of `actor(factory).options({...}).remote(...)`.
struct ActorOptions {
  /// A name other processes of the pool find the actor by (get_actor); empty: none. Names
  /// are unique among live actors: creating a second one of a name throws.
  std::string name{};
  /// Times the actor process is started again (its factory runs again, its state is lost)
  /// after it died; -1: without limit.
  int max_restarts = 0;
  /// Times a method call that was running when the actor died is run again on the restarted
  /// actor; -1: without limit. Calls queued but not started yet are never lost to a restart.
  int max_task_retries = 0;
  /// CPU slots of the task pool the actor holds while it lives (0: it runs beside the pool).
  double num_cpus = 0;
  /// A named actor that outlives its handles: it stops on kill() or shutdown() only.
  bool detached = false;
};

/// Options of `wait()`.
struct WaitOptions {
  /// Ready refs that end the wait: 1 to the number of refs.
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
