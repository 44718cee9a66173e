// stats(): the driver's counters and a lock-free scan (observe.hpp), plus usage().
#include "driver/driver.hpp"
#include "driver/observe.hpp"

namespace shmray::driver {

Stats Driver::stats() {
  const Observation o = observe(v_, counters_, tasks_.outside_relaxed());
  const auto counts = [](const StateCounts& c) {
    return TaskCounts{c.queued, c.waiting, c.running, c.finished, c.failed, c.cancelled};
  };
  Stats s;
  s.tasks = counts(o.total);
  for (std::size_t f = 0; f < counters_.functions(); ++f) {
    const StateCounts& c = o.per_function[f];
    if (!(c.queued | c.waiting | c.running | c.finished | c.failed | c.cancelled)) continue;
    s.functions.push_back({counters_.name(f), counts(c), latency_quantile(counters_.at(f), 0.5),
                           latency_quantile(counters_.at(f), 0.99)});
  }
  s.workers = o.pool_workers;
  s.retries = o.retries;
  s.restarts = o.restarts;
  const Usage u = usage();
  s.store = StoreStats{store_bytes(), u.object_bytes, u.objects, u.spans * shm::kSpanBytes};
  s.dashboard_url = dashboard_url();
  return s;
}

}  // namespace shmray::driver
