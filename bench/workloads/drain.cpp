// Consuming finished results one at a time (issue 13, finding 1): drain_20k_one_by_one_s,
// as_completed_20k_s, as_completed_one_by_one_20k_s.
#include <time.h>

#include <algorithm>
#include <memory>

#include "common.hpp"
#include "workloads.hpp"

namespace bench {
namespace {

/// The floor of the copying loop for any thread-safe counted handle: the same loop over
/// std::shared_ptr<int>, with no runtime at all (this process has other threads, so its
/// counts are atomic, as ObjectRef's are). Each pass copies the rest and drops the old list:
/// two atomic operations per ref per pass, n^2 of them in all.
double shared_ptr_floor_s(int n) {
  std::vector<std::shared_ptr<int>> v;
  v.reserve(std::size_t(n));
  for (int i = 0; i < n; ++i) v.push_back(std::make_shared<int>(i));
  Stopwatch sw;
  while (!v.empty()) {
    std::vector<std::shared_ptr<int>> ready, rest;
    ready.reserve(1);
    rest.reserve(v.size() - 1);
    ready.push_back(v[0]);
    rest.insert(rest.end(), v.begin() + 1, v.end());
    v = std::move(rest);
  }
  return sw.seconds();
}

/// CPU seconds of the calling thread so far.
double thread_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

/// drain_n noop(i) submitted and all of them finished (untimed): the refs to drain.
std::vector<shmray::ObjectRef<int>> finished_noops(int n) {
  std::vector<shmray::ObjectRef<int>> refs;
  refs.reserve(std::size_t(n));
  for (int i = 0; i < n; ++i) refs.push_back(shmray::task(noop).remote(i));
  (void)shmray::wait(refs, {.num_returns = refs.size()});
  return refs;
}

}  // namespace

/// drain_20k_one_by_one_s: drain_n noop(i), all finished (untimed); then the seed's loop,
/// `while (!v.empty()) { auto [r, rest] = wait(v); v = std::move(rest); }` with
/// num_returns = 1, until the list is empty. Timed: the loop alone.
Result drain_20k_one_by_one_s(const Context& c) {
  const int n = c.p.drain_n;
  auto once = [n] {
    std::vector<shmray::ObjectRef<int>> v = finished_noops(n);
    std::size_t seen = 0;
    Stopwatch sw;
    while (!v.empty()) {
      auto [ready, rest] = shmray::wait(v, {.num_returns = 1});
      seen += ready.size();
      v = std::move(rest);
    }
    const double dt = sw.seconds();
    check(seen == std::size_t(n), "the loop saw every ref once");
    return dt;
  };
  Result r = Result::ok(repeat(Reps(c.p, c.p.drain_reps, false), 0, once, seconds));
  r.extra.set("n", n);
  // The same loop with wait(std::move(v)): the refs move instead of being copied (extra only).
  std::vector<shmray::ObjectRef<int>> v = finished_noops(n);
  Stopwatch sw;
  while (!v.empty()) v = shmray::wait(std::move(v), {.num_returns = 1}).rest;
  r.extra.set("moved_s", sw.seconds());
  r.extra.set("shared_ptr_floor_s", shared_ptr_floor_s(n));
  r.note =
      "noop tasks finished before the timed loop; wait(v, {.num_returns = 1}), v = rest, until empty; "
      "shared_ptr_floor_s: the same copying loop over std::shared_ptr, no runtime";
  return r;
}

/// as_completed_20k_s: the same drain_n finished noop(i), consumed by
/// `for (auto& r : as_completed(v))`. Timed: the loop alone.
Result as_completed_20k_s(const Context& c) {
  const int n = c.p.drain_n;
  auto once = [n] {
    std::vector<shmray::ObjectRef<int>> v = finished_noops(n);
    std::size_t seen = 0;
    Stopwatch sw;
    for (shmray::ObjectRef<int>& r : shmray::as_completed(v)) seen += r ? 1 : 0;
    const double dt = sw.seconds();
    check(seen == std::size_t(n), "as_completed yielded every ref once");
    return dt;
  };
  Result r = Result::ok(repeat(Reps(c.p, c.p.drain_reps, false), 0, once, seconds));
  r.extra.set("n", n);
  r.note = "noop tasks finished before the timed loop; for (auto& r : as_completed(v))";
  return r;
}

/// as_completed_one_by_one_20k_s: drain_n noop tasks in one chain (each takes the one before
/// as its argument), so they finish one by one while `for (auto& r : as_completed(v))` runs
/// over them, last link first. Timed: submitting the chain and the loop. extra chain_alone_s:
/// the same chain waited for by get() on its last link, so the loop's own cost is the
/// difference (a look that rescans every pending ref shows here; one that reads only the
/// new completions would not). extra loop_cpu_s / chain_alone_cpu_s: the calling thread's CPU
/// time for each (the looks and spins, against get()'s one wait).
Result as_completed_one_by_one_20k_s(const Context& c) {
  const int n = c.p.drain_n;
  auto chain = [n] {
    std::vector<shmray::ObjectRef<int>> v;
    v.reserve(std::size_t(n));
    v.push_back(shmray::task(noop).remote(0));
    for (int i = 1; i < n; ++i) v.push_back(shmray::task(noop).remote(v.back()));
    return v;
  };
  double loop_cpu = 0;
  auto once = [n, &chain, &loop_cpu] {
    const double cpu0 = thread_cpu_s();
    Stopwatch sw;
    std::vector<shmray::ObjectRef<int>> v = chain();
    std::reverse(v.begin(), v.end());  // the first to finish is the last looked at in order
    std::size_t seen = 0;
    for (shmray::ObjectRef<int>& r : shmray::as_completed(std::move(v))) seen += r ? 1 : 0;
    const double dt = sw.seconds();
    loop_cpu = thread_cpu_s() - cpu0;
    check(seen == std::size_t(n), "as_completed yielded every ref once");
    return dt;
  };
  Result r = Result::ok(repeat(Reps(c.p, c.p.drain_reps, false), 0, once, seconds));
  r.extra.set("n", n);
  r.extra.set("loop_cpu_s", loop_cpu);
  const double cpu0 = thread_cpu_s();
  Stopwatch sw;
  std::vector<shmray::ObjectRef<int>> v = chain();
  (void)shmray::get(v.back());
  r.extra.set("chain_alone_s", sw.seconds());
  r.extra.set("chain_alone_cpu_s", thread_cpu_s() - cpu0);
  r.note = "a chain of drain_n noop tasks, each taking the one before; for (auto& r : as_completed(v)) while it runs";
  return r;
}

}  // namespace bench
