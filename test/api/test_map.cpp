// map(f, inputs, {.max_in_flight}): results in input order, failures stay in their ref, and
// the back-pressure bound holds (issue 14, everyday helpers).
#include <doctest/doctest.h>

#include <shmray/shmray.hpp>

#include <time.h>

#include <cstdint>
#include <list>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "support/leak_check.hpp"

using namespace std::chrono_literals;

namespace {

std::int64_t monotonic_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);  // one clock for every process of the machine
  return std::int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

int square(int x) { return x * x; }
SHMRAY_REMOTE(square);

int add(int a, int b) { return a + b; }
SHMRAY_REMOTE(add);

int odd_throws(int x) {
  if (x % 2) throw std::runtime_error("odd " + std::to_string(x));
  return x;
}
SHMRAY_REMOTE(odd_throws);

/// Sleeps `ms`, and returns when it ran: {start, end} on CLOCK_MONOTONIC.
std::pair<std::int64_t, std::int64_t> timed_nap(int ms) {
  const std::int64_t start = monotonic_ns();
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return {start, monotonic_ns()};
}
SHMRAY_REMOTE(timed_nap);

/// Inside a task: map over n inputs with a bound of 2, summed.
int map_in_task(int n) {
  std::vector<int> in;
  for (int i = 0; i < n; ++i) in.push_back(i);
  int sum = 0;
  for (int v : shmray::get(shmray::map(square, in, {.max_in_flight = 2}))) sum += v;
  return sum;
}
SHMRAY_REMOTE(map_in_task);

/// The largest number of tasks that ran at one moment: the most intervals covering a point.
/// A task j that had not ended when task i started was still unfinished when i was submitted
/// (end_j < the moment its object turned final < the moment map() saw it), so with a bound
/// of K this never exceeds K.
std::size_t most_at_once(const std::vector<std::pair<std::int64_t, std::int64_t>>& runs) {
  std::size_t most = 0;
  for (const auto& [start, end] : runs) {
    std::size_t n = 0;
    for (const auto& [s, e] : runs) n += (s <= start && e > start) ? 1 : 0;
    most = std::max(most, n);
  }
  return most;
}

const shmray::Options kPool{.num_workers = 4, .object_store_bytes = 64 << 20, .quiet = true};

}  // namespace

TEST_CASE("Map.ResultsComeInInputOrder" * doctest::timeout(120)) {
  shmray::test::NoLeaks guard;
  shmray::init(kPool);
  std::vector<int> in;
  for (int i = 0; i < 500; ++i) in.push_back(i);
  for (std::size_t k : {std::size_t{0}, std::size_t{1}, std::size_t{7}, std::size_t{1000}}) {
    CAPTURE(k);
    std::vector<shmray::ObjectRef<int>> refs = shmray::map(square, in, {.max_in_flight = k});
    REQUIRE(refs.size() == in.size());
    const std::vector<int> out = shmray::get(refs);
    for (int i = 0; i < 500; ++i) REQUIRE(out[std::size_t(i)] == i * i);
  }
  // Any input range; tuples for several parameters; an empty range submits nothing.
  const std::list<std::pair<int, int>> pairs{{1, 2}, {3, 4}, {5, 6}};
  CHECK(shmray::get(shmray::map(add, pairs, {.max_in_flight = 2})) == std::vector<int>{3, 7, 11});
  CHECK(shmray::get(shmray::map(add, std::vector<std::tuple<int, int>>{{10, 1}})) == std::vector<int>{11});
  CHECK(shmray::map(square, std::vector<int>{}).empty());
  // The task options reach every task.
  std::vector<shmray::ObjectRef<int>> named =
      shmray::map(odd_throws, std::vector<int>{1}, {.task = {.name = "mapped"}});
  try {
    shmray::get(named[0]);
    FAIL("no error");
  } catch (const shmray::TaskError& e) {
    CHECK(e.task_name() == "mapped");
  }
  CHECK(map_in_task(10) == 285);
  CHECK(shmray::task(map_in_task).remote(20).get() == 2470);
}

TEST_CASE("Map.AFailedTaskStaysInItsRefAndCountsAsFinished" * doctest::timeout(120)) {
  shmray::test::NoLeaks guard;
  shmray::init(kPool);
  std::vector<int> in;
  for (int i = 0; i < 40; ++i) in.push_back(i);
  // With a bound of 1 every failure must count as finished, or map() would wait for good.
  std::vector<shmray::ObjectRef<int>> refs = shmray::map(odd_throws, in, {.max_in_flight = 1});
  REQUIRE(refs.size() == 40);
  for (int i = 0; i < 40; ++i) {
    if (i % 2)
      CHECK_THROWS_AS(shmray::get(refs[std::size_t(i)]), shmray::TaskError);
    else
      CHECK(shmray::get(refs[std::size_t(i)]) == i);
  }
}

TEST_CASE("Map.NeverHasMoreThanMaxInFlightUnfinished" * doctest::timeout(180)) {
  shmray::test::NoLeaks guard;
  shmray::init(kPool);  // 4 workers: without the bound, 4 naps would run at once
  const std::vector<int> naps(24, 20);
  for (std::size_t k : {std::size_t{1}, std::size_t{2}, std::size_t{3}}) {
    CAPTURE(k);
    const auto runs = shmray::get(shmray::map(timed_nap, naps, {.max_in_flight = k}));
    CHECK(most_at_once(runs) <= k);
  }
  // The check can fail: with no bound, the 4 workers run naps side by side.
  const auto free_runs = shmray::get(shmray::map(timed_nap, naps));
  CHECK(most_at_once(free_runs) > 1);
}
