// Task throughput: startup_s, tasks_sync_per_s, tasks_async_per_s (and its own-pool
// variants), tasks_and_get_batch_per_s, wait_1k_refs_per_s.
#include "common.hpp"
#include "workloads.hpp"

namespace bench {

/// startup_s: from just before init() until the driver holds the result of one noop(1).
/// Each repetition is a cold pool start; shutdown() is outside the timed window.
Result startup_s(const Context& c) {
  auto once = [&] {
    Stopwatch sw;
    shmray::init(pool_options(c.workers, c.store_bytes));
    int v = -1;
    try {
      v = shmray::get(shmray::task(noop).remote(1));
    } catch (...) {
      shmray::shutdown();
      throw;
    }
    const double dt = sw.seconds();
    shmray::shutdown();
    check(v == 1, "noop(1) == 1");
    return dt;
  };
  Result r = Result::ok(repeat(Reps(c.p, c.p.startup_reps), 0, once, seconds));
  r.note =
      "init({.num_workers=" + std::to_string(c.workers) + ", 1 GiB store, quiet}) + get(noop(1)); shutdown() not timed";
  return r;
}

/// tasks_sync_per_s: N times submit noop(i), get it, check it is i. Figure N / elapsed.
Result tasks_sync_per_s(const Context& c) {
  auto run = [](int n) {
    Stopwatch sw;
    for (int i = 0; i < n; ++i) check(shmray::get(shmray::task(noop).remote(i)) == i, "noop(i) == i");
    return sw.seconds();
  };
  run(c.p.sync_warmup_n);
  const int n = c.p.sync_n;
  Result r = Result::ok(repeat(
      Reps(c.p, c.p.sync_reps), 0, [&] { return run(n); }, per_second(n)));
  r.extra.set("n", n);
  return r;
}

/// tasks_async_per_s: submit N noop(i), then get all N in order. Figure N / elapsed.
Result tasks_async_per_s(const Context& c) {
  submit_then_get(c.p.async_warmup_n);
  const int n = c.p.async_n;
  Result r = Result::ok(repeat(
      Reps(c.p, c.p.async_reps), 0, [&] { return submit_then_get(n); }, per_second(n)));
  r.extra.set("n", n);
  return r;
}

/// tasks_async_per_s on a pool of its own with `workers` workers (ours: how the rate scales).
Result tasks_async_on_own_pool(const Context& c, unsigned workers) {
  OwnPool pool(workers, c.store_bytes);
  Result r = tasks_async_per_s(c);
  r.extra.set("workers", workers);
  r.note = "tasks_async_per_s on a fresh warmed pool of " + std::to_string(workers) + " worker(s)";
  return r;
}

/// tasks_async_per_s_timeline_off / _on (ours): tasks_async_per_s on a fresh pool of --workers
/// workers without and with Options::timeline, the cost of recording; compare the two
/// medians of alternating runs. The file is written at shutdown (not timed) and removed.
Result tasks_async_timeline(const Context& c, bool on) {
  const std::string path =
      on ? (std::filesystem::temp_directory_path() / ("shmray_bench_timeline_" + std::to_string(::getpid()) + ".json"))
               .string()
         : std::string();
  Result r;
  {
    OwnPool pool(c.workers, c.store_bytes, path);
    r = tasks_async_per_s(c);
  }
  std::error_code ec;
  std::uintmax_t bytes = 0;
  if (on) {
    bytes = std::filesystem::file_size(path, ec);
    check(!ec && bytes > 0, "the timeline file was written at shutdown");
    std::filesystem::remove(path, ec);
  }
  r.extra.set("workers", c.workers);
  r.extra.set("timeline", on);
  r.note = std::string("tasks_async_per_s on a fresh warmed pool, timeline ") +
           (on ? "on (Options::timeline; file written at shutdown, untimed: " + std::to_string(bytes) + " B)" : "off");
  return r;
}

/// tasks_and_get_batch_per_s: one repetition = submit 1000 noop(i), get the 1000 results.
/// Figure 1 / elapsed of the batch.
Result tasks_and_get_batch_per_s(const Context& c) {
  const int b = c.p.batch_size;
  Result r = Result::ok(repeat(
      Reps(c.p, c.p.batch_reps), c.p.warmup ? 1 : 0, [&] { return submit_then_get(b); }, per_second(1)));
  r.extra.set("batch_size", b);
  return r;
}

/// wait_1k_refs_per_s: submit 1000 sleep0(), then wait for all of them (wait with
/// num_returns = 1000; results not fetched). Timed window includes submission. Figure 1 / elapsed.
Result wait_1k_refs_per_s(const Context& c) {
  const int n = c.p.wait_n;
  auto once = [n] {
    std::vector<shmray::ObjectRef<int>> refs;
    refs.reserve(std::size_t(n));
    Stopwatch sw;
    for (int i = 0; i < n; ++i) refs.push_back(shmray::task(sleep0).remote());
    const auto w = shmray::wait(refs, {.num_returns = refs.size()});
    const double dt = sw.seconds();
    check(w.ready.size() == std::size_t(n) && w.rest.empty(), "wait(all) returns every ref as ready");
    return dt;
  };
  Result r = Result::ok(repeat(Reps(c.p, c.p.wait_reps), c.p.warmup ? 1 : 0, once, per_second(1)));
  r.extra.set("n", n);
  return r;
}

}  // namespace bench
