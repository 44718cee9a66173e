#pragma once
// The workload entry points, one file per concern; registry.cpp lists them in run order.
// Each one is defined in /work/shared/peers/README.md ("Workloads"); the comment above each
// definition states its timed window, as the README does.
#include "../bench.hpp"

namespace bench {

// tasks.cpp
Result startup_s(const Context& c);
Result tasks_sync_per_s(const Context& c);
Result tasks_async_per_s(const Context& c);
Result tasks_async_on_own_pool(const Context& c, unsigned workers);
Result tasks_async_per_s_dashboard(const Context& c);
Result tasks_async_timeline(const Context& c, bool on);
Result tasks_and_get_batch_per_s(const Context& c);
Result wait_1k_refs_per_s(const Context& c);
// loaded.cpp
Result tasks_sync_per_s_loaded(const Context& c);
Result tasks_async_per_s_loaded(const Context& c);
// fail_fast.cpp
Result get_list_fail_fast_s(const Context& c);
// objects.cpp
Result put_gigabytes_per_s(const Context& c);
Result pipeline_large_s(const Context& c);
Result pipeline_large_s_copy(const Context& c);
// demos.cpp
Result in_order_s(const Context& c);
Result as_available_s(const Context& c);
// resources.cpp
Result idle_cpu_percent(const Context& c);
Result worker_rss_mib(const Context& c);
// nested.cpp
Result nested_fib(const Context& c);
// cancel.cpp
Result cancel_running_s(const Context& c);
Result cancel_running_s_coop(const Context& c);
// crash.cpp
Result worker_crash(const Context& c);
Result worker_crash_retry_s(const Context& c);
// queued.cpp
Result queued_1m_s(const Context& c);
// syscalls.cpp
Result syscalls_per_task(const Context& c);
// actors.cpp
Result actor_calls_sync_per_s(const Context& c);
Result actor_calls_async_per_s(const Context& c);
Result actor_create_s(const Context& c);
// drain.cpp
Result drain_20k_one_by_one_s(const Context& c);
Result as_completed_20k_s(const Context& c);
Result as_completed_one_by_one_20k_s(const Context& c);
// release.cpp
Result release_latency_ms(const Context& c);
Result map_merge_wordcount_s(const Context& c);
// big_args.cpp
Result submit_100mb_by_value_s(const Context& c);

}  // namespace bench
