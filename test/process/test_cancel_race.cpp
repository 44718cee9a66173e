// Cancellation at the edges of a task's run (issue 9, items 15 and 21): a force-cancel that
// races with the task's return never kills the task the worker claims next, and a task
// cancelled while its arguments are decoded never runs its body.
#include <doctest/doctest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <shmray/shmray.hpp>

#include <atomic>
#include <chrono>
#include <new>
#include <random>
#include <string>
#include <thread>

#include "support/leak_check.hpp"
#include "support/procs.hpp"

namespace {

using namespace std::chrono_literals;
using shmray::test::append_line;
using shmray::test::file_exists;
using shmray::test::wait_file;

// A word shared with the workers (mapped before init(), so every worker inherits it): a
// task says "returning now" through it, and the test aims its force-cancel at that moment.
std::atomic<int>* g_returning = nullptr;

// Busy for `us` microseconds, says it is about to return (`round`), is busy `tail_us` more
// and returns.
int short_task(int us, int round, int tail_us) {
  auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(us);
  while (std::chrono::steady_clock::now() < until) {
  }
  if (g_returning) g_returning->store(round, std::memory_order_seq_cst);
  until = std::chrono::steady_clock::now() + std::chrono::microseconds(tail_us);
  while (std::chrono::steady_clock::now() < until) {
  }
  return us;
}
SHMRAY_REMOTE(short_task);

void spin_us(int us) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(us);
  while (std::chrono::steady_clock::now() < until) {
  }
}

void spin_us(int us);

// The innocent bystander: claimed by the same worker right after short_task returns, busy
// for 2 ms (a kill meant for short_task would find it running).
int innocent(int x) {
  spin_us(2000);
  return 2 * x + 1;
}
SHMRAY_REMOTE(innocent);

int plus_one(int x) { return x + 1; }
SHMRAY_REMOTE(plus_one);

// An argument whose decoding in the worker is slow: it says it started, then waits for a gate.
struct SlowArg {
  std::string dir;
  template <class A>
  void save(A& ar) const {
    ar(dir);
  }
  template <class A>
  void load(A& ar) {
    ar(dir);
    append_line(dir + "/decoding", "yes");
    wait_file(dir + "/gate");
  }
};

int body_after_slow_arg(SlowArg a) {
  append_line(a.dir + "/ran", "yes");
  return 1;
}
SHMRAY_REMOTE(body_after_slow_arg);

// 400 rounds of: a short task, an innocent one queued right behind it on the same worker,
// and a force-cancel of the first aimed at the moment it returns. With `kill_delay_us`, the
// driver sleeps between "is it still the worker's task?" and the kill, as a preempted driver
// thread would: without the handshake, the kill then lands on the innocent task every time
// the first one returned meanwhile.
void force_cancel_rounds(const char* kill_delay_us) {
  if (kill_delay_us) ::setenv("SHMRAY_TEST_FORCE_KILL_DELAY_US", kill_delay_us, 1);
  shmray::test::NoLeaks guard;
  void* page = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  REQUIRE(page != MAP_FAILED);
  g_returning = new (page) std::atomic<int>(-1);
  shmray::init({.num_workers = 1, .object_store_bytes = 16 << 20, .quiet = true});
  std::mt19937 rng(12345);
  int killed = 0, finished = 0, innocent_failures = 0;
  for (int round = 0; round < 400; ++round) {
    CAPTURE(round);
    auto x = shmray::task(short_task)
                 .remote(std::uniform_int_distribution<int>(0, 200)(rng), round,
                         std::uniform_int_distribution<int>(0, 1500)(rng));
    // Queued right behind it: the worker claims it the moment x returns.
    auto b = shmray::task(innocent).options({.max_retries = 0}).remote(round);
    // Cancel as x returns, give or take: the race is between its worker claiming b and the kill.
    const auto until = std::chrono::steady_clock::now() + 10s;
    while (g_returning->load() != round && std::chrono::steady_clock::now() < until) {
    }
    spin_us(std::uniform_int_distribution<int>(0, 10)(rng));
    shmray::cancel(x, {.force = true});
    try {
      const int v = shmray::get(b, 30s);
      CHECK(v == 2 * round + 1);
    } catch (const shmray::Error& e) {
      ++innocent_failures;
      FAIL_CHECK("the innocent task failed: " << std::string(e.what()));
    }
    try {
      (void)shmray::get(x, 30s);
      ++finished;
    } catch (const shmray::TaskCancelledError&) {
      ++killed;
    }
  }
  shmray::shutdown();
  g_returning = nullptr;
  ::munmap(page, 4096);
  ::unsetenv("SHMRAY_TEST_FORCE_KILL_DELAY_US");
  MESSAGE("cancelled: " << killed << ", finished first: " << finished);
  CHECK(innocent_failures == 0);
}

}  // namespace

TEST_CASE("CancelRace.ForceCancelAtReturnNeverHitsTheNextTask" * doctest::timeout(300)) {
  force_cancel_rounds(nullptr);
}

TEST_CASE("CancelRace.ForceCancelWithASlowDriverNeverHitsTheNextTask" * doctest::timeout(300)) {
  force_cancel_rounds("300");
}

TEST_CASE("CancelRace.ForceCancelOfARunningTaskStillKillsIt" * doctest::timeout(60)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 1, .object_store_bytes = 16 << 20, .quiet = true});
  auto x = shmray::task(short_task).remote(30'000'000, 0, 0);  // 30 s busy, never checks cancelled()
  std::this_thread::sleep_for(100ms);
  const auto t0 = std::chrono::steady_clock::now();
  shmray::cancel(x, {.force = true});
  CHECK_THROWS_AS(shmray::get(x, 10s), shmray::TaskCancelledError);
  CHECK(shmray::get(shmray::task(plus_one).remote(1), 20s) == 2);  // the worker was killed and replaced
  CHECK(std::chrono::steady_clock::now() - t0 < 20s);
}

TEST_CASE("CancelRace.CancelledWhileDecodingArgumentsNeverRunsTheBody" * doctest::timeout(60)) {
  shmray::test::NoLeaks guard;
  shmray::test::TempDir dir;
  shmray::init({.num_workers = 1, .object_store_bytes = 16 << 20, .quiet = true});
  auto ref = shmray::task(body_after_slow_arg).remote(SlowArg{dir.path()});
  wait_file(dir.file("decoding"));
  shmray::cancel(ref);  // not force: the task must notice before its body
  append_line(dir.file("gate"), "open");
  CHECK_THROWS_AS(shmray::get(ref, 10s), shmray::TaskCancelledError);
  // The only worker is free again only once that task ended: then its body would have run.
  CHECK(shmray::get(shmray::task(plus_one).remote(1), 30s) == 2);
  CHECK_FALSE(file_exists(dir.file("ran")));
}
