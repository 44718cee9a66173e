// The workload table: run order = table order.
#include "workloads.hpp"

namespace bench {

// ============================================================================ registry
const std::vector<Workload>& registry() {
  static const std::vector<Workload> table = {
      // peers.py order: startup (own pools), the shared pool's workloads, worker_crash; our
      // variant of a peers' workload sits right below it.
      {"startup_s", "s", Pool::kOwn, startup_s},
      {"tasks_sync_per_s", "tasks/s", Pool::kShared, tasks_sync_per_s},
      {"tasks_async_per_s", "tasks/s", Pool::kShared, tasks_async_per_s},
      {"tasks_sync_per_s_loaded", "tasks/s", Pool::kShared, tasks_sync_per_s_loaded},  // ours: 2 x CPUs hogs
      {"tasks_async_per_s_loaded", "tasks/s", Pool::kShared, tasks_async_per_s_loaded},
      {"tasks_and_get_batch_per_s", "batches/s", Pool::kShared, tasks_and_get_batch_per_s},
      {"wait_1k_refs_per_s", "reps/s", Pool::kShared, wait_1k_refs_per_s},
      {"put_gigabytes_per_s", "GB/s (1e9 B/s)", Pool::kShared, put_gigabytes_per_s},
      {"pipeline_large_s", "s", Pool::kShared, pipeline_large_s},
      {"pipeline_large_s_copy", "s", Pool::kShared, pipeline_large_s_copy},  // ours: const& parameter
      {"in_order_s", "s", Pool::kShared, in_order_s},
      {"as_available_s", "s", Pool::kShared, as_available_s},
      {"nested_fib", "s", Pool::kShared, nested_fib},
      {"cancel_running_s", "s", Pool::kShared, cancel_running_s},
      {"cancel_running_s_coop", "s", Pool::kShared, cancel_running_s_coop},  // ours: cooperative variant
      {"get_list_fail_fast_s", "s", Pool::kShared, get_list_fail_fast_s},    // ours: get(list) on a failure
      {"worker_crash", "s", Pool::kOwn, worker_crash},
      {"worker_crash_retry_s", "s", Pool::kOwn, worker_crash_retry_s},  // ours: one crash, one retry
      // ours (no peer figure)
      {"tasks_async_per_s_1w", "tasks/s", Pool::kOwn, [](const Context& c) { return tasks_async_on_own_pool(c, 1); }},
      {"tasks_async_per_s_4w", "tasks/s", Pool::kOwn, [](const Context& c) { return tasks_async_on_own_pool(c, 4); }},
      {"tasks_async_per_s_dashboard", "tasks/s", Pool::kOwn, tasks_async_per_s_dashboard},  // vs off: extra
      {"tasks_async_per_s_timeline_off", "tasks/s", Pool::kOwn,
       [](const Context& c) { return tasks_async_timeline(c, false); }},
      {"tasks_async_per_s_timeline_on", "tasks/s", Pool::kOwn,
       [](const Context& c) { return tasks_async_timeline(c, true); }},
      {"idle_cpu_percent", "% of one core", Pool::kOwn, idle_cpu_percent},
      {"worker_rss_mib", "MiB", Pool::kOwn, worker_rss_mib},
      {"queued_1m_s", "s", Pool::kShared, queued_1m_s},
      {"syscalls_per_task", "syscalls/task", Pool::kShared, syscalls_per_task},
      {"actor_calls_sync_per_s", "calls/s", Pool::kShared, actor_calls_sync_per_s},
      {"actor_calls_async_per_s", "calls/s", Pool::kShared, actor_calls_async_per_s},
      {"actor_create_s", "s", Pool::kShared, actor_create_s},
      {"drain_20k_one_by_one_s", "s", Pool::kShared, drain_20k_one_by_one_s},
      {"as_completed_20k_s", "s", Pool::kShared, as_completed_20k_s},
      {"as_completed_one_by_one_20k_s", "s", Pool::kShared, as_completed_one_by_one_20k_s},
      {"release_latency_ms", "ms", Pool::kShared, release_latency_ms},
      {"submit_100mb_by_value_s", "s", Pool::kShared, submit_100mb_by_value_s},
      {"map_merge_wordcount_s", "s", Pool::kShared, map_merge_wordcount_s},
  };
  return table;
}

}  // namespace bench
