// The workloads. Each one is defined in /work/shared/peers/README.md ("Workloads"); the
// comment above each function states its timed window, as the README does. Task bodies are
// the C++ counterparts of peers.py's top-level task functions (same work, same sizes).
//
// To add a workload: write `Result name(const Context&)` below and add one row to the table
// in registry() at the end of this file.
#include <unistd.h>

#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <random>
#include <shmray/shmray.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "bench.hpp"
#include "proc.hpp"

namespace bench {

// ============================================================================ task bodies
namespace {

/// noop(x): returns its argument (peers.py noop).
int noop(int x) { return x; }
SHMRAY_REMOTE(noop);

/// sleep0(): peers.py calls time.sleep(0) and returns 0; in C++ there is nothing to do.
int sleep0() { return 0; }
SHMRAY_REMOTE(sleep0);

/// make_array(n): 0, 1, ..., n-1 as doubles (numpy arange), n*8 bytes made inside the task.
std::vector<double> make_array(std::int64_t n) {
  std::vector<double> a(static_cast<std::size_t>(n));
  for (std::size_t i = 0; i < a.size(); ++i) a[i] = double(i);
  return a;
}
SHMRAY_REMOTE(make_array);

/// sum_array(a): the sum of a, read where it lies in the store (const& parameter).
double sum_array(const std::vector<double>& a) {
  double s = 0;
  for (double x : a) s += x;
  return s;
}
SHMRAY_REMOTE(sum_array);

/// sleep_then_return(i, unit): sleeps (10 - i) * unit seconds, returns i.
int sleep_then_return(int i, double unit) {
  std::this_thread::sleep_for(std::chrono::duration<double>((10 - i) * unit));
  return i;
}
SHMRAY_REMOTE(sleep_then_return);

}  // namespace

// ============================================================================ helpers
namespace {

constexpr std::int64_t kLargeBytes = 100ll * 1024 * 1024;  // 104857600
constexpr std::int64_t kLargeLen = kLargeBytes / 8;        // 13107200 doubles
constexpr double kLargeSum = double(kLargeLen) * double(kLargeLen - 1) / 2.0;  // 85899338956800, exact

void check(bool ok, const std::string& what) {
  if (!ok) throw CheckFailed("check failed: " + what);
}

/// Untimed warm-ups, then timed repetitions while `reps` says so. `once()` runs one
/// repetition and returns the seconds of its timed window; `figure(dt)` is the value reported
/// for it (dt itself, or count / dt for rates).
template <class Once, class Figure>
std::vector<double> repeat(Reps reps, int warmups, Once&& once, Figure&& figure) {
  for (int i = 0; i < warmups; ++i) (void)once();
  std::vector<double> values;
  while (reps.more()) {
    const double dt = once();
    reps.add(dt);
    values.push_back(figure(dt));
  }
  return values;
}
const auto seconds = [](double dt) { return dt; };
auto per_second(double count) {
  return [count](double dt) { return count / dt; };
}

void sleep_s(double s) { std::this_thread::sleep_for(std::chrono::duration<double>(s)); }

/// init() in the constructor, shutdown() in the destructor: a workload's own pool.
struct OwnPool {
  OwnPool(unsigned workers, std::size_t store_bytes) { start_warm_pool(workers, store_bytes); }
  ~OwnPool() { shmray::shutdown(); }
  OwnPool(const OwnPool&) = delete;
  OwnPool& operator=(const OwnPool&) = delete;
};

shmray::Options pool_options(unsigned workers, std::size_t store_bytes) {
  return {.num_workers = workers, .object_store_bytes = store_bytes, .quiet = true};
}

/// The pool's processes: the fork server (our child) and its workers.
struct PoolPids {
  pid_t fork_server = 0;
  std::vector<pid_t> workers;
};
PoolPids pool_pids(unsigned expected_workers) {
  PoolPids p;
  const auto servers = proc::children(::getpid(), "shmray-forksrv");
  check(servers.size() == 1, "one fork server (a child of the driver named shmray-forksrv); found " +
                                 std::to_string(servers.size()));
  p.fork_server = servers[0];
  p.workers = proc::children(p.fork_server, "shmray-worker");
  check(p.workers.size() == expected_workers, "the fork server has " + std::to_string(expected_workers) +
                                                  " shmray-worker children; found " + std::to_string(p.workers.size()));
  return p;
}

}  // namespace

void start_warm_pool(unsigned workers, std::size_t store_bytes) {
  shmray::init(pool_options(workers, store_bytes));
  try {
    std::vector<shmray::ObjectRef<int>> refs;
    for (int i = 0; i < 8; ++i) refs.push_back(shmray::task(noop).remote(i));
    const auto got = shmray::get(refs);
    for (int i = 0; i < 8; ++i) check(got[std::size_t(i)] == i, "warm-up noop(i) == i");
  } catch (...) {
    shmray::shutdown();
    throw;
  }
}

// ============================================================================ workloads
namespace {

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
  r.note = "init({.num_workers=" + std::to_string(c.workers) +
           ", 1 GiB store, quiet}) + get(noop(1)); shutdown() not timed";
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
  Result r = Result::ok(repeat(Reps(c.p, c.p.sync_reps), 0, [&] { return run(n); }, per_second(n)));
  r.extra.set("n", n);
  return r;
}

/// N noop(i) submitted without waiting, then get(refs) (all, in order). Timed: first submit
/// to last result in hand. The refs are released after the window.
double submit_then_get(int n) {
  std::vector<shmray::ObjectRef<int>> refs;
  refs.reserve(std::size_t(n));
  Stopwatch sw;
  for (int i = 0; i < n; ++i) refs.push_back(shmray::task(noop).remote(i));
  const std::vector<int> got = shmray::get(refs);
  const double dt = sw.seconds();
  check(got.size() == std::size_t(n), "get(refs) returns N values");
  for (int i = 0; i < n; ++i) check(got[std::size_t(i)] == i, "noop(i) == i, in submission order");
  return dt;
}

/// tasks_async_per_s: submit N noop(i), then get all N in order. Figure N / elapsed.
Result tasks_async_per_s(const Context& c) {
  submit_then_get(c.p.async_warmup_n);
  const int n = c.p.async_n;
  Result r = Result::ok(repeat(Reps(c.p, c.p.async_reps), 0, [&] { return submit_then_get(n); }, per_second(n)));
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

/// tasks_and_get_batch_per_s: one repetition = submit 1000 noop(i), get the 1000 results.
/// Figure 1 / elapsed of the batch.
Result tasks_and_get_batch_per_s(const Context& c) {
  const int b = c.p.batch_size;
  Result r = Result::ok(repeat(Reps(c.p, c.p.batch_reps), c.p.warmup ? 1 : 0,
                                            [&] { return submit_then_get(b); }, per_second(1)));
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

/// put_gigabytes_per_s: put() a std::vector<double> of 13,107,200 random values (100 MiB,
/// made once, untimed) until put returns the ref. Figure 104857600 / 1e9 / elapsed.
Result put_gigabytes_per_s(const Context& c) {
  std::vector<double> arr(static_cast<std::size_t>(kLargeLen));
  {
    std::mt19937_64 rng(0);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    for (double& x : arr) x = u(rng);  // random: incompressible
  }
  auto once = [&] {
    Stopwatch sw;
    shmray::ObjectRef<std::vector<double>> ref = shmray::put(arr);
    const double dt = sw.seconds();
    // Untimed: the stored object is the array (a zero-copy look), then the ref is dropped.
    const shmray::View<std::vector<double>> v = shmray::get_view(ref);
    check(v.size() == arr.size() && v.data()[0] == arr[0] && v.data()[arr.size() - 1] == arr.back(),
          "the stored object holds the array");
    return dt;
  };
  Result r = Result::ok(repeat(Reps(c.p, c.p.put_reps), c.p.warmup ? 1 : 0, once, per_second(double(kLargeBytes) / 1e9)));
  r.extra.set("bytes", kLargeBytes);
  r.extra.set("as_task_argument", false);
  r.note = "shmray::put(std::vector<double>) into the shared-memory store; returns the ref";
  return r;
}

/// pipeline_large_s: b = task(sum_array).remote(task(make_array).remote(13107200)); get(b)
/// == 85899338956800. Timed: submitting A to B's result in the driver. A's 100 MiB stays in
/// the store; B reads it there (the ref of A is B's argument).
Result pipeline_large_s(const Context& c) {
  auto once = [] {
    Stopwatch sw;
    const double s = shmray::get(shmray::task(sum_array).remote(shmray::task(make_array).remote(kLargeLen)));
    const double dt = sw.seconds();
    check(s == kLargeSum, "sum_array(make_array(13107200)) == 85899338956800 (got " + std::to_string(s) + ")");
    return dt;
  };
  Result r = Result::ok(repeat(Reps(c.p, c.p.pipeline_reps), c.p.warmup ? 1 : 0, once, seconds));
  r.extra.set("bytes", kLargeBytes);
  r.extra.set("via_driver", false);
  r.note = "A's ref is B's argument: the array stays in the store, only B's double reaches the driver";
  return r;
}

/// in_order_s: submit the 10 sleep_then_return(i, unit), get all 10 in submission order,
/// then per result: print it, sleep one unit ("business logic"). Timed: first submit to the
/// end of the last unit of business logic.
Result in_order_s(const Context& c) {
  const double unit = c.p.demo_unit_s;
  std::vector<double> values;
  for (int rep = 0; rep < c.p.demo_reps; ++rep) {
    std::fprintf(stderr, "    in_order     rep %d prints:", rep + 1);
    Stopwatch sw;
    std::vector<shmray::ObjectRef<int>> refs;
    for (int i = 0; i < 10; ++i) refs.push_back(shmray::task(sleep_then_return).remote(i, unit));
    const std::vector<int> results = shmray::get(refs);  // all, in submission order
    for (int v : results) {
      std::fprintf(stderr, " %d", v);
      sleep_s(unit);  // driver "business logic"
    }
    const double dt = sw.seconds();
    std::fprintf(stderr, " (%.3f s)\n", dt);
    for (int i = 0; i < 10; ++i) check(results[std::size_t(i)] == i, "in-order results are 0..9");
    values.push_back(dt);
  }
  Result r = Result::ok(values);
  r.extra.set("unit_s", unit);
  return r;
}

/// as_available_s: submit the 10 tasks, then loop: wait(rest, num_returns = 1) (the
/// earliest-submitted of those already done), get and print it, sleep one unit, continue with
/// the rest. Timed: first submit to the end of the last unit of business logic.
Result as_available_s(const Context& c) {
  const double unit = c.p.demo_unit_s;
  std::vector<double> values;
  for (int rep = 0; rep < c.p.demo_reps; ++rep) {
    std::fprintf(stderr, "    as_available rep %d prints:", rep + 1);
    Stopwatch sw;
    std::vector<shmray::ObjectRef<int>> rest;
    for (int i = 0; i < 10; ++i) rest.push_back(shmray::task(sleep_then_return).remote(i, unit));
    std::vector<int> seen;
    while (!rest.empty()) {
      shmray::WaitResult<int> w = shmray::wait(rest, {.num_returns = 1});
      check(w.ready.size() == 1, "wait(num_returns=1) without timeout returns one ref");
      const int v = shmray::get(w.ready.front());
      std::fprintf(stderr, " %d", v);
      sleep_s(unit);  // driver "business logic"
      seen.push_back(v);
      rest = std::move(w.rest);
    }
    const double dt = sw.seconds();
    std::fprintf(stderr, " (%.3f s)\n", dt);
    std::sort(seen.begin(), seen.end());
    for (int i = 0; i < 10; ++i) check(seen.size() == 10 && seen[std::size_t(i)] == i, "as-available results are 0..9");
    values.push_back(dt);
  }
  Result r = Result::ok(values);
  r.extra.set("unit_s", unit);
  return r;
}

/// idle_cpu_percent (ours): CPU time used by an idle, warmed pool over idle_window_s, as a
/// percent of one core: driver (getrusage RUSAGE_SELF: every thread, while the main thread
/// sleeps) + fork server + workers (utime + stime of /proc/<pid>/stat). One value per window.
Result idle_cpu_percent(const Context& c) {
  OwnPool pool(c.workers, c.store_bytes);
  const PoolPids pids = pool_pids(c.workers);
  sleep_s(0.1);  // let the warm-up's last spins end: "idle" starts after the pool's last task

  struct Sample {
    double driver = 0, fork_server = 0, workers = 0, sched = 0;
  };
  auto sample = [&] {
    Sample s;
    s.driver = proc::self_cpu_seconds();
    s.fork_server = proc::cpu_seconds(pids.fork_server).value_or(0);
    for (pid_t w : pids.workers) s.workers += proc::cpu_seconds(w).value_or(0);
    s.sched = proc::schedstat_seconds(::getpid()).value_or(0) + proc::schedstat_seconds(pids.fork_server).value_or(0);
    for (pid_t w : pids.workers) s.sched += proc::schedstat_seconds(w).value_or(0);
    return s;
  };
  Json details = Json::array();
  std::vector<double> values;
  Reps reps(c.p, c.p.idle_reps, /*adaptive=*/false);
  while (reps.more()) {
    const Sample a = sample();
    Stopwatch sw;
    sleep_s(c.p.idle_window_s);
    const double dt = sw.seconds();
    const Sample b = sample();
    reps.add(dt);
    auto pct = [dt](double x) { return 100.0 * x / dt; };
    const double total = (b.driver - a.driver) + (b.fork_server - a.fork_server) + (b.workers - a.workers);
    values.push_back(pct(total));
    Json d = Json::object();
    d.set("window_s", dt);
    d.set("driver_percent", pct(b.driver - a.driver));
    d.set("fork_server_percent", pct(b.fork_server - a.fork_server));
    d.set("workers_percent", pct(b.workers - a.workers));
    d.set("schedstat_total_percent", pct(b.sched - a.sched));  // ns-precise cross-check
    details.push(std::move(d));
  }
  Result r = Result::ok(values);
  r.extra.set("workers", c.workers);
  r.extra.set("window_s", c.p.idle_window_s);
  r.extra.set("details", std::move(details));
  r.note = "idle pool of " + std::to_string(c.workers) +
           " after warm-up: driver (getrusage) + fork server + workers (/proc/<pid>/stat utime+stime, "
           "10 ms ticks); details split it and give a schedstat (ns) cross-check";
  return r;
}

/// worker_rss_mib (ours): resident memory of a worker (VmRSS of /proc/<pid>/status) in a
/// fresh pool after a warm-up (8 + 1000 noop tasks, so every worker has run tasks). One value
/// per worker.
Result worker_rss_mib(const Context& c) {
  OwnPool pool(c.workers, c.store_bytes);
  submit_then_get(1000);
  const PoolPids pids = pool_pids(c.workers);
  auto mem_json = [](pid_t pid, const proc::Memory& m) {
    Json d = Json::object();
    d.set("pid", pid);
    d.set("vm_rss_mib", m.vm_rss_mib);
    d.set("rss_anon_mib", m.rss_anon_mib);
    d.set("rss_file_mib", m.rss_file_mib);
    d.set("rss_shmem_mib", m.rss_shmem_mib);
    d.set("pss_mib", m.pss_mib);
    d.set("private_mib", m.private_mib);
    return d;
  };
  std::vector<double> values;
  Json details = Json::array();
  for (pid_t w : pids.workers) {
    const auto m = proc::memory(w);
    check(m.has_value(), "read /proc/" + std::to_string(w) + "/status");
    values.push_back(m->vm_rss_mib);
    details.push(mem_json(w, *m));
  }
  Result r = Result::ok(values);
  r.extra.set("workers", c.workers);
  r.extra.set("details", std::move(details));
  if (auto m = proc::memory(::getpid())) r.extra.set("driver", mem_json(::getpid(), *m));
  if (auto m = proc::memory(pids.fork_server)) r.extra.set("fork_server", mem_json(pids.fork_server, *m));
  r.note = "VmRSS of each worker (n = workers, not repetitions); it counts pages shared with the driver "
           "(libraries, copy-on-write heap, touched store pages): private_mib and pss_mib in details say "
           "what a worker alone adds";
  return r;
}

// ---------------------------------------------------------------------------- stubs
// Workloads the library or this program cannot run yet. Each reports "unsupported" with the
// reason; when the feature lands, replace the body (the table entry stays).

/// nested_fib: fib(n) as a task that submits fib(n-1) and fib(n-2) and gets both; n = fib_n,
/// limit fib_limit_s; check against plain recursion (fib(15) = 610).
Result nested_fib(const Context&) {
  return Result::unsupported("not measured yet: stub in shmray_bench (lands later)");
}

/// cancel_running_s: cancel a running long_task; time until get reports cancelled and a new
/// noop ran; plus whether the task really stopped and whether both workers are free after.
Result cancel_running_s(const Context&) {
  return Result::unsupported("not measured yet: stub in shmray_bench (lands later)");
}

/// worker_crash: a task that kills its own process, on a fresh pool per repetition; what get
/// throws, how fast, retries, and whether the pool still runs tasks.
Result worker_crash(const Context&) {
  return Result::unsupported("not measured yet: stub in shmray_bench (lands later)");
}

/// queued_1m_s (ours): not defined by the peers' harness; lands later.
Result queued_1m_s(const Context&) {
  return Result::unsupported("not measured yet: stub in shmray_bench (lands later)");
}

/// syscalls_per_task (ours): not defined by the peers' harness; lands later.
Result syscalls_per_task(const Context&) {
  return Result::unsupported("not measured yet: stub in shmray_bench (lands later)");
}

}  // namespace

// ============================================================================ registry
const std::vector<Workload>& registry() {
  static const std::vector<Workload> table = {
      // peers.py order: startup (own pools), the shared pool's workloads, worker_crash.
      {"startup_s", "s", Pool::kOwn, startup_s},
      {"tasks_sync_per_s", "tasks/s", Pool::kShared, tasks_sync_per_s},
      {"tasks_async_per_s", "tasks/s", Pool::kShared, tasks_async_per_s},
      {"tasks_and_get_batch_per_s", "batches/s", Pool::kShared, tasks_and_get_batch_per_s},
      {"wait_1k_refs_per_s", "reps/s", Pool::kShared, wait_1k_refs_per_s},
      {"put_gigabytes_per_s", "GB/s (1e9 B/s)", Pool::kShared, put_gigabytes_per_s},
      {"pipeline_large_s", "s", Pool::kShared, pipeline_large_s},
      {"in_order_s", "s", Pool::kShared, in_order_s},
      {"as_available_s", "s", Pool::kShared, as_available_s},
      {"nested_fib", "s", Pool::kShared, nested_fib},
      {"cancel_running_s", "s", Pool::kShared, cancel_running_s},
      {"worker_crash", "s", Pool::kOwn, worker_crash},
      // ours (no peer figure)
      {"tasks_async_per_s_1w", "tasks/s", Pool::kOwn, [](const Context& c) { return tasks_async_on_own_pool(c, 1); }},
      {"tasks_async_per_s_4w", "tasks/s", Pool::kOwn, [](const Context& c) { return tasks_async_on_own_pool(c, 4); }},
      {"idle_cpu_percent", "% of one core", Pool::kOwn, idle_cpu_percent},
      {"worker_rss_mib", "MiB", Pool::kOwn, worker_rss_mib},
      {"queued_1m_s", "s", Pool::kShared, queued_1m_s},
      {"syscalls_per_task", "syscalls/task", Pool::kShared, syscalls_per_task},
  };
  return table;
}

}  // namespace bench
