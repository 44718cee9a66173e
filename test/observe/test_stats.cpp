// shmray::stats(): exact counts after a known workload, the gauges while tasks are held at a
// gate (running, queued, waiting on a dependency), latency quantiles, retries and restarts,
// and the refusal inside a task.
#include <doctest/doctest.h>
#include <unistd.h>

#include <shmray/shmray.hpp>

#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include "api/gate.hpp"
#include "support/leak_check.hpp"

using namespace std::chrono_literals;

namespace {

int square(int x) { return x * x; }
SHMRAY_REMOTE(square);

int boom(int) { throw std::logic_error("boom"); }
SHMRAY_REMOTE(boom);

int blocker(std::string gate) {
  shmray_test::wait_for_gate(gate);
  return 1;
}
SHMRAY_REMOTE(blocker);

int never_runs(int x) { return x; }
SHMRAY_REMOTE(never_runs);

int plus_one(int x) { return x + 1; }
SHMRAY_REMOTE(plus_one);

// Dies on its first run (the marker file does not exist yet), returns on its retry.
int crash_once(std::string marker) {
  if (::access(marker.c_str(), F_OK) != 0) {
    FILE* f = std::fopen(marker.c_str(), "w");
    if (f) std::fclose(f);
    ::_exit(3);
  }
  return 7;
}
SHMRAY_REMOTE(crash_once);

std::string stats_in_task(int) {
  try {
    (void)shmray::stats();
    return "no error";
  } catch (const shmray::Error& e) {
    return e.what();
  }
}
SHMRAY_REMOTE(stats_in_task);

const shmray::FunctionStats* find(const shmray::Stats& s, const std::string& name) {
  for (const auto& f : s.functions)
    if (f.name == name) return &f;
  return nullptr;
}

bool settled(const shmray::Stats& s) { return s.tasks.queued + s.tasks.waiting + s.tasks.running == 0; }

}  // namespace

TEST_CASE("Stats.ExactCountsAfterAKnownWorkload" * doctest::timeout(120)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 2, .quiet = true});
  std::vector<shmray::ObjectRef<int>> sq;
  for (int i = 0; i < 10; ++i) sq.push_back(shmray::task(square).remote(i));
  CHECK(shmray::get(sq).back() == 81);
  std::vector<shmray::ObjectRef<int>> bad;
  for (int i = 0; i < 3; ++i) bad.push_back(shmray::task(boom).options({.max_retries = 0}).remote(i));
  for (auto& r : bad) CHECK_THROWS_AS(shmray::get(r), shmray::TaskError);

  // Both workers held at a gate: 2 running; 4 queued behind them; 1 waiting on a blocker.
  shmray_test::Gate gate;
  auto b1 = shmray::task(blocker).remote(gate.path());
  auto b2 = shmray::task(blocker).remote(gate.path());
  std::vector<shmray::ObjectRef<int>> queued;
  for (int i = 0; i < 4; ++i) queued.push_back(shmray::task(never_runs).remote(i));
  auto dep = shmray::task(plus_one).remote(b1);
  REQUIRE(shmray_test::eventually([] { return shmray::stats().tasks.running == 2; }, 20s));
  shmray::Stats mid = shmray::stats();
  CHECK(mid.tasks.running == 2);
  CHECK(mid.tasks.queued == 4);
  CHECK(mid.tasks.waiting == 1);
  REQUIRE(find(mid, "blocker"));
  CHECK(find(mid, "blocker")->tasks.running == 2);
  CHECK(find(mid, "never_runs")->tasks.queued == 4);
  CHECK(find(mid, "plus_one")->tasks.waiting == 1);
  for (auto& r : queued) shmray::cancel(r);
  gate.open();
  CHECK(shmray::get(dep) == 2);
  CHECK(shmray::get(b2) == 1);

  // get() returns when a result is stored; the driver counts the task a moment later.
  REQUIRE(shmray_test::eventually(
      [] {
        const auto s = shmray::stats();
        return settled(s) && s.tasks.finished + s.tasks.failed + s.tasks.cancelled == 20;
      },
      20s));
  const shmray::Stats s = shmray::stats();
  CHECK(s.tasks.finished == 10 + 2 + 1);
  CHECK(s.tasks.failed == 3);
  CHECK(s.tasks.cancelled == 4);
  CHECK(s.workers == 2);
  CHECK(s.retries == 0);
  CHECK(s.restarts == 0);
  REQUIRE(find(s, "square"));
  const shmray::FunctionStats& f = *find(s, "square");
  CHECK(f.tasks.finished == 10);
  CHECK(f.tasks.failed == 0);
  CHECK(f.p50_seconds > 0);
  CHECK(f.p99_seconds >= f.p50_seconds);
  CHECK(find(s, "boom")->tasks.failed == 3);
  CHECK(find(s, "never_runs")->tasks.cancelled == 4);
  CHECK(find(s, "never_runs")->tasks.finished == 0);
  CHECK(s.store.capacity_bytes > 0);
  CHECK(s.dashboard_url.empty());
  shmray::shutdown();
}

TEST_CASE("Stats.RetriesAndRestartsAfterACrash" * doctest::timeout(120)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 1, .quiet = true, .dashboard = ""});
  const std::string marker = "/tmp/shmray-stats-crash-" + std::to_string(::getpid());
  ::unlink(marker.c_str());
  CHECK(shmray::get(shmray::task(crash_once).options({.max_retries = 1}).remote(marker)) == 7);
  ::unlink(marker.c_str());
  // get() returns when the result is stored; the driver counts the task a moment later.
  REQUIRE(shmray_test::eventually([] { return settled(shmray::stats()) && shmray::stats().tasks.finished == 1; }, 10s));
  const shmray::Stats s = shmray::stats();
  CHECK(s.retries == 1);
  CHECK(s.restarts == 1);
  CHECK(s.tasks.finished == 1);
  CHECK(s.tasks.failed == 0);
  shmray::shutdown();
}

TEST_CASE("Stats.InsideATaskSaysItIsDriverOnly" * doctest::timeout(60)) {
  shmray::test::NoLeaks guard;
  CHECK_THROWS_AS(shmray::stats(), shmray::NotInitializedError);
  shmray::init({.num_workers = 1, .quiet = true});
  const std::string what = shmray::get(shmray::task(stats_in_task).remote(0));
  CHECK(what.find("driver process") != std::string::npos);
  shmray::shutdown();
}
