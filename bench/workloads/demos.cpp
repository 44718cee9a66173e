// The getting-results demos: in_order_s, as_available_s.
#include "common.hpp"
#include "workloads.hpp"

namespace bench {

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

}  // namespace bench
