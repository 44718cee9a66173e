// What an idle pool costs: idle_cpu_percent, worker_rss_mib.
#include "common.hpp"
#include "workloads.hpp"

namespace bench {

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
  r.note =
      "VmRSS of each worker (n = workers, not repetitions); it counts pages shared with the driver "
      "(libraries, copy-on-write heap, touched store pages): private_mib and pss_mib in details say "
      "what a worker alone adds";
  return r;
}

}  // namespace bench
