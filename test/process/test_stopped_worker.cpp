// No single stopped process may stall the pool. A worker stopped (SIGSTOP, as a debugger or
// a cgroup freezer would) while it spins for the next task, while it sleeps, or while it
// runs a task must not keep queued work from the other workers; once it continues, nothing
// is lost and nothing leaks.
#include <doctest/doctest.h>
#include <signal.h>
#include <unistd.h>

#include <shmray/shmray.hpp>

#include <chrono>
#include <set>
#include <thread>
#include <vector>

#include "support/leak_check.hpp"
#include "support/procs.hpp"

namespace {

using namespace std::chrono_literals;
using shmray::test::append_line;
using shmray::test::file_exists;
using shmray::test::read_lines;

int my_pid() { return static_cast<int>(::getpid()); }
SHMRAY_REMOTE(my_pid);

// Writes its pid to `started`, then runs until `release` exists (30 s at most).
int run_until(std::string started, std::string release) {
  append_line(started, std::to_string(::getpid()));
  const auto until = std::chrono::steady_clock::now() + 30s;
  while (!file_exists(release) && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(1ms);
  return 5;
}
SHMRAY_REMOTE(run_until);

// Submits n tasks; all must finish (in another process than `stopped`) well within 5 s.
void check_others_serve(int stopped, int n) {
  std::vector<shmray::ObjectRef<int>> refs;
  for (int i = 0; i < n; ++i) refs.push_back(shmray::task(my_pid).remote());
  for (int pid : shmray::get(refs, 5s)) CHECK(pid != stopped);
}

// The store is back to `base` (what the stopped worker held was given back or kept right).
void check_store_settles(const shmray::StoreStats& base) {
  const auto until = std::chrono::steady_clock::now() + 10s;
  shmray::StoreStats now = shmray::store_stats();
  while (now.objects != base.objects && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(5ms);
    now = shmray::store_stats();
  }
  CHECK(now.objects == base.objects);
}

void wait_until_asleep() { std::this_thread::sleep_for(50ms); }  // idle workers spin 50 us, then sleep

}  // namespace

TEST_CASE("StoppedWorker.ASpinnerStoppedRightAfterATaskDoesNotStallThePool" * doctest::timeout(120)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 2, .object_store_bytes = 16 << 20, .quiet = true});
  const shmray::StoreStats base = shmray::store_stats();
  for (int round = 0; round < 10; ++round) {
    CAPTURE(round);
    wait_until_asleep();
    // The worker that ran it spins for the next task for a few tens of microseconds: stop it there.
    const int pid = shmray::get(shmray::task(my_pid).remote(), 5s);
    ::kill(pid, SIGSTOP);
    check_others_serve(pid, 1);  // one task: nothing else would wake a sleeper for it
    check_others_serve(pid, 8);
    ::kill(pid, SIGCONT);
  }
  check_others_serve(0, 16);
  check_store_settles(base);
}

TEST_CASE("StoppedWorker.AStoppedSleeperDoesNotSwallowTheWakeUp" * doctest::timeout(120)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 2, .object_store_bytes = 16 << 20, .quiet = true});
  const shmray::StoreStats base = shmray::store_stats();
  check_others_serve(0, 4);
  const std::vector<int> workers = shmray::test::workers_of();
  REQUIRE(workers.size() == 2);
  for (int round = 0; round < 2; ++round) {
    for (int pid : workers) {  // one of them is the sleeper a submitter wakes first
      CAPTURE(pid);
      wait_until_asleep();
      ::kill(pid, SIGSTOP);
      check_others_serve(pid, 1);
      check_others_serve(pid, 8);
      ::kill(pid, SIGCONT);
    }
  }
  check_others_serve(0, 16);
  CHECK(shmray::test::workers_of().size() == 2);  // stopping is not dying: nobody was replaced
  check_store_settles(base);
}

TEST_CASE("StoppedWorker.AStoppedRunningTaskLeavesTheOthersServing" * doctest::timeout(120)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 2, .object_store_bytes = 16 << 20, .quiet = true});
  const shmray::StoreStats base = shmray::store_stats();
  shmray::test::TempDir dir;
  {
    auto slow = shmray::task(run_until).remote(dir.file("started"), dir.file("release"));
    const auto until = std::chrono::steady_clock::now() + 10s;
    while (read_lines(dir.file("started")).empty() && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(1ms);
    REQUIRE(!read_lines(dir.file("started")).empty());
    const int pid = std::stoi(read_lines(dir.file("started")).front());
    ::kill(pid, SIGSTOP);
    append_line(dir.file("release"), "go");  // it would finish now, but it is stopped
    for (int round = 0; round < 5; ++round) {
      check_others_serve(pid, 1);
      check_others_serve(pid, 8);
      wait_until_asleep();
    }
    CHECK(shmray::wait(std::vector{slow}, {.num_returns = 1, .timeout = 100ms}).ready.empty());
    ::kill(pid, SIGCONT);
    CHECK(shmray::get(slow, 10s) == 5);  // nothing lost: it ran to the end in its own worker
    CHECK(read_lines(dir.file("started")).size() == 1);
    check_others_serve(0, 16);
  }
  check_store_settles(base);
}
