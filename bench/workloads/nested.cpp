// Tasks that submit tasks: nested_fib.
#include "common.hpp"
#include "workloads.hpp"

namespace bench {

namespace {

int fib_plain(int n) { return n < 2 ? n : fib_plain(n - 1) + fib_plain(n - 2); }
}  // namespace

/// nested_fib: fib(n) as a task that submits fib(n-1) and fib(n-2) and gets both. Timed: the
/// driver submits fib(n) -> the driver holds the result (checked against plain recursion,
/// fib(15) = 610). Not done within fib_limit_s: "hang" (a deadlock). Afterwards, untimed, one
/// more fib(n) with the fork server's children sampled every ~1 ms: how many worker
/// processes the pool grew to (blocked tasks give their slot up; the pool may add workers).
Result nested_fib(const Context& c) {
  const int n = c.p.fib_n;
  const int expect = fib_plain(n);
  const long tasks = 2L * fib_plain(n + 1) - 1;
  auto not_completed = [&](std::string status, std::string reason) {
    Result r;
    r.status = std::move(status);
    r.reason = std::move(reason);
    r.extra.set("completes", false);
    r.extra.set("n", n);
    r.extra.set("tasks", tasks);
    return r;
  };
  std::vector<double> values;
  Reps reps(c.p, c.p.fib_reps);
  while (reps.more()) {
    Stopwatch sw;
    const shmray::ObjectRef<int> ref = shmray::task(fib).remote(n);
    int v = -1;
    try {
      v = shmray::get(ref, as_ns(c.p.fib_limit_s));
    } catch (const shmray::GetTimeoutError& e) {
      char buf[160];
      std::snprintf(buf, sizeof buf, "fib(%d) did not finish within %.0f s (deadlock?): ", n, c.p.fib_limit_s);
      return not_completed("hang", buf + type_name(e) + ": " + e.what());
    } catch (const std::exception& e) {
      char buf[120];
      std::snprintf(buf, sizeof buf, " (after %.1f s; limit %.0f s)", sw.seconds(), c.p.fib_limit_s);
      return not_completed("failed", type_name(e) + ": " + e.what() + buf);
    }
    const double dt = sw.seconds();
    check(v == expect,
          "fib(" + std::to_string(n) + ") == " + std::to_string(expect) + " (got " + std::to_string(v) + ")");
    values.push_back(dt);
    reps.add(dt);
  }
  // Untimed: the worker processes one more fib(n) runs on.
  std::size_t before = 0, peak = 0;
  {
    WorkerWatch watch(fork_server_pid());
    before = watch.live().size();
    check(shmray::get(shmray::task(fib).remote(n), as_ns(c.p.fib_limit_s)) == expect, "untimed fib(n) again");
    watch.stop();
    peak = watch.peak();
  }
  Result r = Result::ok(values);
  r.extra.set("n", n);
  r.extra.set("tasks", tasks);
  r.extra.set("completes", true);
  r.extra.set("worker_processes_before", before);
  r.extra.set("worker_processes_peak", peak);
  r.cell_suffix = " ok";
  r.note = "completes without deadlock with " + std::to_string(c.workers) + " workers: fib(" + std::to_string(n) +
           ") = " + std::to_string(expect) + ", " + std::to_string(tasks) +
           " tasks, each parent get()s its two children; " +
           "worker processes (sampled every ~1 ms in an untimed extra run): " + std::to_string(before) +
           " before, peak " + std::to_string(peak);
  return r;
}

}  // namespace bench
