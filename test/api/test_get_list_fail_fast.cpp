// get() of a list throws as soon as one ref in it has failed, without waiting for slower
// refs before it (as Ray does). Public headers only.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <shmray/shmray.hpp>

#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "api/gate.hpp"
#include "support/leak_check.hpp"

using namespace std::chrono_literals;

namespace {

// Waits for the gate: "slow" for as long as the test wants, never longer than 60 s.
int slow(std::string gate) {
  shmray_test::wait_for_gate(gate);
  return 1;
}
SHMRAY_REMOTE(slow);

// As slow, and opens `started` first (so the test knows it runs in a worker of its own).
int slow_started(std::string gate, std::string started) {
  const int fd = ::open(started.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
  if (fd >= 0) ::close(fd);
  shmray_test::wait_for_gate(gate);
  return 1;
}
SHMRAY_REMOTE(slow_started);

void slow_void(std::string gate) { shmray_test::wait_for_gate(gate); }
SHMRAY_REMOTE(slow_void);

int failing(int i) { throw std::runtime_error("failed " + std::to_string(i)); }
SHMRAY_REMOTE(failing);

void failing_void(int) { throw std::runtime_error("void failed"); }
SHMRAY_REMOTE(failing_void);

int quick(int i) { return i; }
SHMRAY_REMOTE(quick);

// get of a list inside a task: fails fast there too. (A producer still queued would be run
// inline by the waiting task, slow or not; here the slow one already runs elsewhere.)
int get_inside(shmray::ObjectRef<int> running_slow) {
  return shmray::get(std::vector<shmray::ObjectRef<int>>{running_slow, shmray::task(failing).remote(7)}).front();
}
SHMRAY_REMOTE(get_inside);

const shmray::Options kOpts{.num_workers = 3, .object_store_bytes = 64 << 20, .quiet = true};

using Clock = std::chrono::steady_clock;
// Generous: the slow task waits 60 s for a gate that opens only after the check.
constexpr auto kFast = 5s;

}  // namespace

TEST_CASE("GetList.ThrowsAsSoonAsOneHasFailed" * doctest::timeout(90)) {
  shmray::test::NoLeaks guard;
  shmray::init(kOpts);
  shmray_test::Gate gate;
  std::vector<shmray::ObjectRef<int>> refs{shmray::task(slow).remote(gate.path()), shmray::task(failing).remote(1)};
  const auto t0 = Clock::now();
  CHECK_THROWS_WITH_AS(shmray::get(refs), "failing raised std::runtime_error: failed 1", shmray::TaskError);
  CHECK(Clock::now() - t0 < kFast);
  // With a timeout too (longer than the check's bound).
  const auto t1 = Clock::now();
  CHECK_THROWS_AS(shmray::get(refs, 60s), shmray::TaskError);
  CHECK(Clock::now() - t1 < kFast);
  // Void results.
  std::vector<shmray::ObjectRef<void>> voids{shmray::task(slow_void).remote(gate.path()),
                                             shmray::task(failing_void).remote(1)};
  const auto t2 = Clock::now();
  CHECK_THROWS_WITH_AS(shmray::get(voids), "failing_void raised std::runtime_error: void failed", shmray::TaskError);
  CHECK_THROWS_AS(shmray::get(voids, 60s), shmray::TaskError);
  CHECK(Clock::now() - t2 < kFast);
  gate.open();
  CHECK(shmray::get(refs.front(), 60s) == 1);
}

TEST_CASE("GetList.FirstFailedInListOrder" * doctest::timeout(60)) {
  shmray::test::NoLeaks guard;
  shmray::init(kOpts);
  std::vector<shmray::ObjectRef<int>> refs{shmray::task(quick).remote(0), shmray::task(failing).remote(2),
                                           shmray::task(failing).remote(3)};
  // Once both have failed, the first in list order is thrown, every time.
  (void)shmray::wait(refs, {.num_returns = 3, .timeout = 30s});
  for (int i = 0; i < 3; ++i)
    CHECK_THROWS_WITH_AS(shmray::get(refs), "failing raised std::runtime_error: failed 2", shmray::TaskError);
  // Without failures: all values, in order; repeated refs are fine.
  std::vector<shmray::ObjectRef<int>> ok{shmray::task(quick).remote(5), shmray::task(quick).remote(6)};
  ok.push_back(ok.front());
  CHECK(shmray::get(ok, 30s) == std::vector<int>{5, 6, 5});
  CHECK(shmray::get(std::vector<shmray::ObjectRef<int>>{}).empty());
}

TEST_CASE("GetList.TimeoutStillTimesOut" * doctest::timeout(60)) {
  shmray::test::NoLeaks guard;
  shmray::init(kOpts);
  shmray_test::Gate gate;
  std::vector<shmray::ObjectRef<int>> refs{shmray::task(quick).remote(1), shmray::task(slow).remote(gate.path())};
  CHECK_THROWS_AS(shmray::get(refs, 100ms), shmray::GetTimeoutError);
  gate.open();
  CHECK(shmray::get(refs, 60s) == std::vector<int>{1, 1});
}

TEST_CASE("GetList.FailsFastInsideATask" * doctest::timeout(90)) {
  shmray::test::NoLeaks guard;
  shmray::init(kOpts);
  shmray_test::Gate gate, started;
  auto running = shmray::task(slow_started).remote(gate.path(), started.path());
  REQUIRE(shmray_test::eventually([&] { return ::access(started.path().c_str(), F_OK) == 0; }, 30000ms));
  const auto t0 = Clock::now();
  try {
    (void)shmray::get(shmray::task(get_inside).remote(running), 60s);
    FAIL("no exception");
  } catch (const shmray::TaskError& e) {
    CHECK(e.function() == "failing");
    CHECK(e.message() == "failed 7");
  }
  CHECK(Clock::now() - t0 < kFast);
  gate.open();  // the slow child ends
}
