// How soon memory a task freed is back (issue 13, finding 3): release_latency_ms.
#include "common.hpp"
#include "workloads.hpp"

namespace bench {
namespace {

constexpr std::int64_t kReleaseBytes = 1 << 20;

/// The slow shape of the issue: a long-running (service) task makes a 1 MiB object, drops
/// its last ref, stamps CLOCK_MONOTONIC into `mark_path`, and runs on until `stop_path`
/// exists (at most `hold_s`).
int drop_then_run_on(std::int64_t bytes, std::string mark_path, std::string stop_path, double hold_s) {
  { shmray::ObjectRef<std::vector<char>> r = shmray::put(std::vector<char>(std::size_t(bytes), 'r')); }
  write_text(mark_path, std::to_string(mono_ns()));
  const auto until = Clock::now() + as_ns(hold_s);
  while (!file_exists(stop_path) && Clock::now() < until) sleep_s(0.001);
  return 0;
}
SHMRAY_REMOTE(drop_then_run_on);

/// One repetition: the milliseconds from the task's drop to the first store_stats() that no
/// longer counts the object (the task's own result, pending, still counts).
double once_ms(double hold_s) {
  TempDir dir("release");
  const std::string mark = dir.file("mark"), stop = dir.file("stop");
  const std::size_t base = shmray::store_stats().objects;
  shmray::ObjectRef<int> t = shmray::task(drop_then_run_on).remote(kReleaseBytes, mark, stop, hold_s);
  std::string stamp;
  check(wait_for([&] { return !(stamp = read_text(mark)).empty(); }, 30.0, 0), "the task dropped its object");
  const bool freed = wait_for([&] { return shmray::store_stats().objects <= base + 1; }, hold_s + 5.0, 0);
  const std::int64_t seen = mono_ns();
  write_text(stop, "");
  check(shmray::get(t) == 0, "the task returned");
  check(freed, "the dropped object was freed");
  return double(seen - std::stoll(stamp)) / 1e6;
}

}  // namespace

/// release_latency_ms: a running task drops the last ref of a 1 MiB object it made and runs
/// on; timed from its CLOCK_MONOTONIC stamp right after the drop to the first store_stats()
/// (polled without pause) that no longer counts the object. Median over reps, milliseconds.
Result release_latency_ms(const Context& c) {
  const double hold_s = 0.5;  // the task runs on this long: a batch held to its end shows as ~500 ms
  Result r = Result::ok(repeat(
      Reps(c.p, c.p.release_reps, false), 1, [&] { return once_ms(hold_s); }, [](double ms) { return ms; }));
  r.extra.set("bytes", kReleaseBytes);
  r.extra.set("hold_s", hold_s);
  r.note = "task: put 1 MiB, drop it, stamp, run on; driver polls store_stats().objects until it is gone";
  return r;
}

}  // namespace bench
