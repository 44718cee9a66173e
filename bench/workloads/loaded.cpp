// Task throughput on a busy machine: tasks_sync_per_s_loaded, tasks_async_per_s_loaded (ours).
// The same runs as tasks_sync_per_s and tasks_async_per_s, with K = 2 x CPUs busy-loop
// processes running beside the pool for the whole workload (warm-up included): every CPU has
// a process queued behind whatever the pool runs, so time spent spinning is time taken from
// another process (and the scheduler charges it to us). The hogs are this program's
// children (shmray::test::Hogs), killed and reaped when the workload ends, by any exit.
#include "common.hpp"
#include "support/hogs.hpp"
#include "workloads.hpp"

namespace bench {

namespace {

Result under_hogs(const Context& c, Result (*run)(const Context&)) {
  const unsigned k = shmray::test::Hogs::twice_the_cpus();
  shmray::test::Hogs hogs(k);
  Result r = run(c);
  r.extra.set("hogs", k);
  r.note = std::to_string(k) + " busy-loop processes (2 x CPUs) running beside the pool";
  return r;
}

}  // namespace

/// tasks_sync_per_s_loaded: tasks_sync_per_s with 2 x CPUs busy-loop processes running.
Result tasks_sync_per_s_loaded(const Context& c) { return under_hogs(c, tasks_sync_per_s); }

/// tasks_async_per_s_loaded: tasks_async_per_s with 2 x CPUs busy-loop processes running.
Result tasks_async_per_s_loaded(const Context& c) { return under_hogs(c, tasks_async_per_s); }

}  // namespace bench
