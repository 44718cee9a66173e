// TaskOptions::timeout: a task not finished by its deadline is force-cancelled (a running one
// really stops: its worker process is gone), get() throws TaskTimeoutError, and so do the
// tasks that depend on it; a task that finishes in time is untouched (issue 14).
#include <doctest/doctest.h>

#include <shmray/shmray.hpp>

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "api/gate.hpp"
#include "support/leak_check.hpp"
#include "support/procs.hpp"

using namespace std::chrono_literals;

namespace {

/// Writes its pid to `path`, then runs for good, never looking at cancelled().
int stubborn(std::string path) {
  { std::ofstream(path + ".tmp") << ::getpid(); }
  ::rename((path + ".tmp").c_str(), path.c_str());
  for (;;) std::this_thread::sleep_for(10ms);
}
SHMRAY_REMOTE(stubborn);

int gated(std::string path, int v) {
  shmray_test::wait_for_gate(path);
  return v;
}
SHMRAY_REMOTE(gated);

/// Creates `path` (proof that it ran), returns v.
int mark(std::string path, int v) {
  std::ofstream(path) << v;
  return v;
}
SHMRAY_REMOTE(mark);

int plus_one(int x) { return x + 1; }
SHMRAY_REMOTE(plus_one);

int nap_ms(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return ms;
}
SHMRAY_REMOTE(nap_ms);

/// Inside a task: a child that times out. `catch_it`: return 1 when get() threw
/// TaskTimeoutError; else let the error pass up.
/// The child naps 10 minutes: run inline in the parent (where the force cancel cannot kill
/// it), the test would run into its doctest timeout.
int parent_of_slow_child(bool catch_it) {
  auto child = shmray::task(nap_ms).options({.timeout = 100ms}).remote(600'000);
  if (!catch_it) return child.get();
  try {
    child.get();
    return 0;
  } catch (const shmray::TaskTimeoutError&) {
    return 1;
  }
}
SHMRAY_REMOTE(parent_of_slow_child);

pid_t wait_for_pid_file(const std::string& path) {
  for (int i = 0; i < 30'000; ++i) {
    std::ifstream in(path);
    pid_t pid = 0;
    if (in >> pid && pid > 0) return pid;
    std::this_thread::sleep_for(1ms);
  }
  return 0;
}

bool gone_within(pid_t pid, std::chrono::seconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (::kill(pid, 0) != 0 && errno == ESRCH) return true;
    std::this_thread::sleep_for(5ms);
  }
  return false;
}

const shmray::Options kPool{.num_workers = 2, .object_store_bytes = 64 << 20, .quiet = true};

}  // namespace

TEST_CASE("TaskTimeout.ARunningTaskIsStoppedAndGetThrows" * doctest::timeout(120)) {
  shmray::test::NoLeaks guard;
  shmray::init(kPool);
  shmray::test::TempDir dir;
  const std::string pid_file = dir.file("pid");
  // The deadline counts from submission: it must leave a slow machine time to start the task.
  auto r = shmray::task(stubborn).options({.name = "stuck", .timeout = 3s}).remote(pid_file);
  const pid_t pid = wait_for_pid_file(pid_file);
  REQUIRE(pid > 0);
  try {
    r.get();
    FAIL("get() returned");
  } catch (const shmray::TaskTimeoutError& e) {
    CHECK(std::string(e.what()).find("TaskOptions::timeout") != std::string::npos);
    CHECK(std::string(e.what()).find("stuck") != std::string::npos);
  }
  CHECK_THROWS_AS(r.get(), shmray::TaskCancelledError);  // a TaskCancelledError too
  CHECK(gone_within(pid, 60s));                          // the task really stopped
  CHECK(shmray::task(plus_one).remote(1).get() == 2);    // and the pool goes on
}

TEST_CASE("TaskTimeout.AQueuedTaskPastItsDeadlineNeverRuns" * doctest::timeout(120)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 1, .object_store_bytes = 64 << 20, .quiet = true});
  shmray_test::Gate gate;
  auto blocker = shmray::task(gated).remote(gate.path(), 7);  // holds the only worker
  shmray::test::TempDir dir;
  const std::string ran = dir.file("ran");
  auto late = shmray::task(mark).options({.timeout = 100ms}).remote(ran, 1);
  CHECK_THROWS_AS(late.get(), shmray::TaskTimeoutError);
  gate.open();
  CHECK(blocker.get() == 7);
  CHECK(shmray::task(plus_one).remote(2).get() == 3);  // runs after the timed-out one would have
  CHECK(::access(ran.c_str(), F_OK) != 0);
}

TEST_CASE("TaskTimeout.InTimeIsUntouchedAndDependentsFailWithTheTimeout" * doctest::timeout(120)) {
  shmray::test::NoLeaks guard;
  shmray::init(kPool);
  CHECK(shmray::task(plus_one).remote(0).get() == 1);  // the pool is up: the timed one needs no fork
  auto quick = shmray::task(plus_one).options({.timeout = 2s}).remote(41);
  CHECK(quick.get() == 42);
  std::this_thread::sleep_for(2200ms);  // past its deadline: the finished result stays
  CHECK(quick.get() == 42);

  auto slow = shmray::task(nap_ms).options({.timeout = 100ms}).remote(60'000);
  auto after = shmray::task(plus_one).remote(slow);
  CHECK_THROWS_AS(after.get(), shmray::TaskTimeoutError);
  CHECK_THROWS_AS(slow.get(), shmray::TaskTimeoutError);
}

TEST_CASE("TaskTimeout.EachTaskHasItsOwnDeadline" * doctest::timeout(120)) {
  shmray::test::NoLeaks guard;
  shmray::init(kPool);
  // A later submit with an earlier deadline: it expires alone. 100 ms against 30 s: a
  // margin no slow machine eats.
  auto far = shmray::task(nap_ms).options({.timeout = 30s}).remote(60'000);
  auto near = shmray::task(nap_ms).options({.timeout = 100ms}).remote(60'000);
  CHECK_THROWS_AS(near.get(), shmray::TaskTimeoutError);
  const std::vector<shmray::ObjectRef<int>> refs{far};
  CHECK(shmray::wait(refs, {.num_returns = 1, .timeout = 0ms}).ready.empty());  // not timed out with it
  shmray::cancel(far, {.force = true});
}

TEST_CASE("TaskTimeout.InsideATask" * doctest::timeout(120)) {
  shmray::test::NoLeaks guard;
  shmray::init(kPool);
  CHECK(shmray::task(parent_of_slow_child).remote(true).get() == 1);
  // Uncaught, it reaches the caller as the same error type.
  CHECK_THROWS_AS(shmray::task(parent_of_slow_child).remote(false).get(), shmray::TaskTimeoutError);
}

TEST_CASE("TaskTimeout.MustBePositive" * doctest::timeout(60)) {
  shmray::test::NoLeaks guard;
  shmray::init(kPool);
  CHECK_THROWS_AS(shmray::task(plus_one).options({.timeout = 0ms}).remote(1), std::invalid_argument);
  CHECK_THROWS_AS(shmray::task(plus_one).options({.timeout = -1s}).remote(1), std::invalid_argument);
  // A timeout of a century works (and does not wrap the deadline).
  CHECK(shmray::task(plus_one).options({.timeout = std::chrono::hours(24 * 365 * 100)}).remote(1).get() == 2);
}
