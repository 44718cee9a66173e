// A worker that dies running a task (SIGKILL, abort, segfault, exit) is seen at once; the
// task is retried up to max_retries and then fails with WorkerCrashedError naming the
// function, the pid and how it died; the worker is replaced; what it held is released.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <shmray/shmray.hpp>

#include <chrono>
#include <set>
#include <thread>

#include "support/leak_check.hpp"
#include "support/procs.hpp"
#include "support/sanitized.hpp"

namespace {

using namespace std::chrono_literals;
using shmray::test::append_line;
using shmray::test::read_lines;

[[noreturn]] void die(const std::string& how) {
  if (how == "sigkill") ::raise(SIGKILL);
  if (how == "abort") std::abort();
  if (how == "segv") *static_cast<volatile int*>(nullptr) = 1;
  if (how == "exit") std::exit(3);
  ::_exit(1);
}

int crash_by(std::string how, std::string marker) {
  append_line(marker, std::to_string(::getpid()));
  die(how);
}
SHMRAY_REMOTE(crash_by);

int crash_once(std::string marker) {
  const bool first = read_lines(marker).empty();
  append_line(marker, std::to_string(::getpid()));
  if (first) ::raise(SIGKILL);
  return 7;
}
SHMRAY_REMOTE(crash_once);

int throw_until(std::string marker, int succeed_at) {
  append_line(marker, "x");
  const int attempts = static_cast<int>(read_lines(marker).size());
  if (attempts < succeed_at) throw std::runtime_error("attempt " + std::to_string(attempts));
  return attempts;
}
SHMRAY_REMOTE(throw_until);

int put_then_crash(shmray::ObjectRef<std::vector<char>> held) {
  std::vector<shmray::ObjectRef<std::vector<char>>> mine;
  for (int i = 0; i < 5; ++i) mine.push_back(shmray::put(std::vector<char>(1 << 20, char(i))));
  (void)held;
  ::raise(SIGKILL);
  return 0;
}
SHMRAY_REMOTE(put_then_crash);

std::size_t allocate_too_much() {
  rlimit rl{256ul << 20, 256ul << 20};
  ::setrlimit(RLIMIT_AS, &rl);
  std::vector<char> v(std::size_t{1} << 31);
  asm volatile("" : : "r"(v.data()) : "memory");  // the memory escapes: clang may not elide the allocation
  return v.size();
}
SHMRAY_REMOTE(allocate_too_much);

int slow_pid() {
  std::this_thread::sleep_for(50ms);
  return static_cast<int>(::getpid());
}
SHMRAY_REMOTE(slow_pid);

int identity(int x) { return x; }
SHMRAY_REMOTE(identity);

// The pool is whole: both workers take tasks.
void check_pool_whole() {
  std::set<int> pids;
  for (int round = 0; round < 20 && pids.size() < 2; ++round) {
    std::vector<shmray::ObjectRef<int>> refs;
    for (int i = 0; i < 4; ++i) refs.push_back(shmray::task(slow_pid).remote());
    for (int p : shmray::get(refs, 30s)) pids.insert(p);
  }
  CHECK(pids.size() == 2);
}

}  // namespace

TEST_CASE("Crash.EachWayOfDyingIsRetriedThenReported" * doctest::timeout(120)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 2, .object_store_bytes = 16 << 20, .quiet = true});
  for (std::string how : {"sigkill", "abort", "segv", "exit", "_exit"}) {
    CAPTURE(how);
    shmray::test::TempDir dir;
    const auto t0 = std::chrono::steady_clock::now();
    auto ref = shmray::task(crash_by).remote(how, dir.file("attempts"));  // max_retries 3 by default
    try {
      shmray::get(ref, 60s);
      FAIL("no error");
    } catch (const shmray::WorkerCrashedError& e) {
      const std::string what = e.what();
      CHECK(what.find("crash_by") != std::string::npos);
      CHECK(what.find("pid " + read_lines(dir.file("attempts")).back()) != std::string::npos);
      CHECK((what.find("signal") != std::string::npos || what.find("exited with code") != std::string::npos));
    }
    CHECK(read_lines(dir.file("attempts")).size() == 4);  // the first run and 3 retries
    CHECK(std::chrono::steady_clock::now() - t0 < 10s);   // seen at once, not by a timeout
  }
  check_pool_whole();
}

TEST_CASE("Crash.MaxRetriesIsHonoured" * doctest::timeout(60)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 2, .object_store_bytes = 16 << 20, .quiet = true});
  for (int retries : {0, 1}) {
    shmray::test::TempDir dir;
    auto ref = shmray::task(crash_by).options({.max_retries = retries}).remote(std::string("sigkill"), dir.file("a"));
    CHECK_THROWS_AS(shmray::get(ref, 30s), shmray::WorkerCrashedError);
    CHECK(read_lines(dir.file("a")).size() == std::size_t(retries + 1));
  }
  shmray::test::TempDir dir;
  CHECK(shmray::get(shmray::task(crash_once).remote(dir.file("a")), 30s) == 7);  // a retry that works
  CHECK(read_lines(dir.file("a")).size() == 2);
}

TEST_CASE("Crash.RetryExceptionsRerunsTasksThatThrew" * doctest::timeout(60)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 2, .object_store_bytes = 16 << 20, .quiet = true});
  shmray::test::TempDir a, b, c;
  CHECK(shmray::get(
            shmray::task(throw_until).options({.max_retries = 3, .retry_exceptions = true}).remote(a.file("m"), 3)) ==
        3);
  CHECK_THROWS_WITH_AS(shmray::get(shmray::task(throw_until).remote(b.file("m"), 3)),
                       "throw_until raised std::runtime_error: attempt 1", shmray::TaskError);
  CHECK(read_lines(b.file("m")).size() == 1);  // without retry_exceptions: once
  CHECK_THROWS_AS(
      shmray::get(
          shmray::task(throw_until).options({.max_retries = 1, .retry_exceptions = true}).remote(c.file("m"), 5)),
      shmray::TaskError);
  CHECK(read_lines(c.file("m")).size() == 2);
}

TEST_CASE("Crash.WhatTheDeadWorkerHeldIsReleased" * doctest::timeout(60)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 2, .object_store_bytes = 64 << 20, .quiet = true});
  auto held = shmray::put(std::vector<char>(1 << 20, 'h'));
  const shmray::StoreStats base = shmray::store_stats();
  for (int i = 0; i < 5; ++i) {
    auto ref = shmray::task(put_then_crash).options({.max_retries = 0}).remote(held);
    CHECK_THROWS_AS(shmray::get(ref, 30s), shmray::WorkerCrashedError);
  }
  const auto until = std::chrono::steady_clock::now() + 10s;
  shmray::StoreStats now = shmray::store_stats();
  while ((now.objects != base.objects || now.used_bytes > base.used_bytes) &&
         std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(5ms);
    now = shmray::store_stats();
  }
  CHECK(now.objects == base.objects);
  CHECK(now.used_bytes <= base.used_bytes);
  CHECK(shmray::get_view(held).size() == (1u << 20));  // what others still hold stays
  check_pool_whole();
}

#ifndef SHMRAY_TEST_SANITIZED
TEST_CASE("Crash.OutOfMemoryInATaskIsATaskError" * doctest::timeout(60)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 2, .object_store_bytes = 16 << 20, .quiet = true});
  try {
    shmray::get(shmray::task(allocate_too_much).remote());
    FAIL("no error");
  } catch (const shmray::TaskError& e) {
    CHECK(e.type_name() == "std::bad_alloc");
  }
  CHECK(shmray::get(shmray::task(identity).remote(5)) == 5);
}
#endif

namespace {
int my_pid() { return static_cast<int>(::getpid()); }
SHMRAY_REMOTE(my_pid);
}  // namespace

TEST_CASE("Crash.AWorkerKilledWhileIdleDoesNotStallThePool" * doctest::timeout(60)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 1, .object_store_bytes = 16 << 20, .quiet = true});
  // Right after a task the worker spins idle for a few tens of microseconds: kill it there.
  // Its "idle" mark must not outlive it, or no sleeping worker would ever be woken again.
  for (int round = 0; round < 20; ++round) {
    const int pid = shmray::get(shmray::task(my_pid).remote(), 10s);
    ::kill(pid, SIGKILL);
    const auto until = std::chrono::steady_clock::now() + 10s;
    while (shmray::test::process_alive(pid) && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(1ms);
  }
  std::this_thread::sleep_for(200ms);  // the replacement has long gone to sleep (it spins 50 us)
  const auto t0 = std::chrono::steady_clock::now();
  CHECK(shmray::get(shmray::task(identity).remote(9), 10s) == 9);
  CHECK(std::chrono::steady_clock::now() - t0 < 1s);  // woken at once, not by a timeout
}
