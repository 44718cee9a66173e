// num_cpus = k > 1: a task starts only when k CPUs are held for it at once (as Ray admits a
// task only when all its CPUs are free), tasks queued after it do not jump it, and nesting
// inside such a task does not deadlock. Public headers only.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <shmray/shmray.hpp>

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "api/gate.hpp"
#include "support/leak_check.hpp"
#include "support/procs.hpp"

using namespace std::chrono_literals;

namespace {

// steady_clock is CLOCK_MONOTONIC: one clock for every process of the machine.
std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void touch(const std::string& path) {
  const int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
  if (fd >= 0) ::close(fd);
}

// Marks `started`, sleeps `ms`, returns {start, end}.
std::pair<std::int64_t, std::int64_t> sleeper(std::string started, int ms) {
  const std::int64_t start = now_ns();
  touch(started);
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return {start, now_ns()};
}
SHMRAY_REMOTE(sleeper);

std::int64_t start_time(int) { return now_ns(); }
SHMRAY_REMOTE(start_time);

// Marks `mine`, then waits for `other`: both return only if they run at the same time.
bool rendezvous(std::string mine, std::string other) {
  touch(mine);
  shmray_test::wait_for_gate(other, 30s);
  return true;
}
SHMRAY_REMOTE(rendezvous);

int leaf(int i) { return i; }
SHMRAY_REMOTE(leaf);

int fan_out(int n) {
  std::vector<shmray::ObjectRef<int>> refs;
  for (int i = 0; i < n; ++i) refs.push_back(shmray::task(leaf).remote(i));
  int sum = 0;
  for (int v : shmray::get(refs)) sum += v;
  return sum + shmray::get(shmray::task(leaf).remote(1000));
}
SHMRAY_REMOTE(fan_out);

// Gets a child that needs `cpus` CPUs: run inline in this process, it still waits for its
// other CPUs; when this task holds them all, the pool starts a worker for it (it is blocked).
int get_wide_child(int cpus) {
  return shmray::get(shmray::task(fan_out).options({.num_cpus = double(cpus)}).remote(10));
}
SHMRAY_REMOTE(get_wide_child);

// Writes its pid into `started`, waits for the gate, returns when it ended.
std::int64_t wide(std::string started, std::string gate) {
  shmray::test::append_line(started + ".tmp", std::to_string(::getpid()));
  ::rename((started + ".tmp").c_str(), started.c_str());
  shmray_test::wait_for_gate(gate);
  return now_ns();
}
SHMRAY_REMOTE(wide);

// Ray's test_recursive_cancel: outer runs (and starts inner) until cancelled.
int inner(int) {
  while (!shmray::cancelled()) std::this_thread::sleep_for(10ms);
  return 0;
}
SHMRAY_REMOTE(inner);

int outer(std::string started) {
  auto x = shmray::task(inner).remote(0);
  touch(started);
  while (!shmray::cancelled()) std::this_thread::sleep_for(10ms);
  return 1;
}
SHMRAY_REMOTE(outer);

int many_resources(int) { return 300; }
SHMRAY_REMOTE(many_resources);

const shmray::Options kFour{.num_workers = 4, .object_store_bytes = 64 << 20, .quiet = true};

bool exists(const std::string& p) { return ::access(p.c_str(), F_OK) == 0; }

}  // namespace

TEST_CASE("NumCpus.WaitsUntilAllItsCpusAreFree" * doctest::timeout(90)) {
  shmray::test::NoLeaks guard;
  shmray::init(kFour);
  shmray_test::Gate started;
  auto one = shmray::task(sleeper).remote(started.path(), 1000);
  REQUIRE(shmray_test::eventually([&] { return exists(started.path()); }, 30000ms));
  auto four = shmray::task(start_time).options({.num_cpus = 4}).remote(0);
  const auto [one_start, one_end] = shmray::get(one, 60s);
  const std::int64_t four_start = shmray::get(four, 60s);
  CHECK(four_start >= one_end);
  CHECK(one_end - one_start >= 900'000'000);
}

TEST_CASE("NumCpus.LaterSmallTasksDoNotJumpIt" * doctest::timeout(90)) {
  shmray::test::NoLeaks guard;
  shmray::init(kFour);
  shmray_test::Gate started;
  auto one = shmray::task(sleeper).remote(started.path(), 500);
  REQUIRE(shmray_test::eventually([&] { return exists(started.path()); }, 30000ms));
  auto four = shmray::task(start_time).options({.num_cpus = 4}).remote(0);
  std::vector<shmray::ObjectRef<std::int64_t>> later;
  for (int i = 0; i < 6; ++i) later.push_back(shmray::task(start_time).remote(i));
  const std::int64_t four_start = shmray::get(four, 60s);
  for (std::int64_t t : shmray::get(later, 60s)) CHECK(t >= four_start);
  CHECK(four_start >= shmray::get(one, 60s).second);
}

TEST_CASE("NumCpus.TwoTwoCpuTasksRunAtOnceOnFourWorkers" * doctest::timeout(90)) {
  shmray::test::NoLeaks guard;
  shmray::init(kFour);
  shmray_test::Gate a, b;
  auto ra = shmray::task(rendezvous).options({.num_cpus = 2}).remote(a.path(), b.path());
  auto rb = shmray::task(rendezvous).options({.num_cpus = 2}).remote(b.path(), a.path());
  CHECK(shmray::get(ra, 60s));
  CHECK(shmray::get(rb, 60s));
}

TEST_CASE("NumCpus.NestedTasksInsideAFullPoolTask" * doctest::timeout(120)) {
  shmray::test::NoLeaks guard;
  shmray::init(kFour);
  // It holds all four CPUs; its children run inline in its own process (it waits for them).
  CHECK(shmray::get(shmray::task(fan_out).options({.num_cpus = 4}).remote(50), 60s) == 50 * 49 / 2 + 1000);
  // Two of them in a row, and one among 1-CPU tasks.
  auto x = shmray::task(fan_out).options({.num_cpus = 4}).remote(10);
  auto y = shmray::task(fan_out).options({.num_cpus = 3}).remote(10);
  auto z = shmray::task(fan_out).remote(10);
  CHECK(shmray::get(x, 60s) == 1045);
  CHECK(shmray::get(y, 60s) == 1045);
  CHECK(shmray::get(z, 60s) == 1045);
  // A task that gets a child needing CPUs too: a 1-CPU parent and a 4-CPU child; a 4-CPU
  // parent and a 2-CPU child (no deadlock, though the parent holds every CPU).
  CHECK(shmray::get(shmray::task(get_wide_child).remote(4), 60s) == 1045);
  CHECK(shmray::get(shmray::task(get_wide_child).options({.num_cpus = 4}).remote(2), 60s) == 1045);
}

TEST_CASE("NumCpus.RecursiveCancelFreesTheCpus" * doctest::timeout(120)) {
  shmray::test::NoLeaks guard;
  shmray::init(kFour);
  shmray_test::Gate started;
  auto outer_ref = shmray::task(outer).remote(started.path());
  REQUIRE(shmray_test::eventually([&] { return exists(started.path()); }, 30000ms));
  auto many = shmray::task(many_resources).options({.num_cpus = 4}).remote(0);
  CHECK_THROWS_AS(shmray::get(many, 1s), shmray::GetTimeoutError);  // outer holds a CPU
  shmray::cancel(outer_ref);                                        // recursive by default
  CHECK_THROWS_AS(shmray::get(outer_ref, 10s), shmray::TaskCancelledError);
  CHECK(shmray::get(many, 30s) == 300);
}

TEST_CASE("NumCpus.AHoldWhoseWorkerDiesIsQueuedAgain" * doctest::timeout(120)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 2, .object_store_bytes = 64 << 20, .quiet = true});
  shmray::test::TempDir dir;
  shmray_test::Gate gate;
  const std::string started = dir.file("started");
  auto main_ref = shmray::task(wide).options({.num_cpus = 2}).remote(started, gate.path());
  REQUIRE(shmray_test::eventually([&] { return shmray::test::file_exists(started); }, 30000ms));
  const int main_pid = std::stoi(shmray::test::read_lines(started).at(0));
  // The other worker runs its hold: kill it.
  const std::vector<int> workers = shmray::test::workers_of();
  REQUIRE(workers.size() == 2);
  const int hold_pid = workers[0] == main_pid ? workers[1] : workers[0];
  REQUIRE(hold_pid != main_pid);
  ::kill(hold_pid, SIGKILL);
  REQUIRE(shmray_test::eventually(
      [&] {
        const std::vector<int> now = shmray::test::workers_of();
        return now.size() == 2 && std::find(now.begin(), now.end(), hold_pid) == now.end();
      },
      30000ms));
  // Its replacement takes the hold again: a task queued now waits until the main ends.
  auto later = shmray::task(start_time).remote(0);
  CHECK_THROWS_AS(shmray::get(later, 300ms), shmray::GetTimeoutError);
  gate.open();
  const std::int64_t main_end = shmray::get(main_ref, 60s);
  CHECK(shmray::get(later, 60s) >= main_end);
}
