// A child that crashes while it runs inline in its parent's worker (issue 9, item 16; the
// shape of Ray's test_worker_dying): inline execution is invisible, so the parent sees
// what it would see had the child run in a worker of its own: the child's value after the
// child's retry, or the child's WorkerCrashedError once the child's retries are spent.
// The parent itself is run again (at least once semantics for its side effects).
#include <doctest/doctest.h>
#include <signal.h>
#include <unistd.h>

#include <shmray/shmray.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <thread>

#include "support/leak_check.hpp"
#include "support/procs.hpp"

namespace {

using namespace std::chrono_literals;
using shmray::test::append_line;
using shmray::test::read_lines;

[[noreturn]] void die(const std::string& how) {
  if (how == "abort") std::abort();
  ::raise(SIGSEGV);
  ::_exit(1);
}

// Crashes on its first attempt only (the marker file counts attempts), else returns 7.
int crash_first(std::string marker, std::string how) {
  const bool first = read_lines(marker).empty();
  append_line(marker, std::to_string(::getpid()));
  if (first) die(how);
  return 7;
}
SHMRAY_REMOTE(crash_first);

int crash_always(std::string marker) {
  append_line(marker, std::to_string(::getpid()));
  die("segv");
}
SHMRAY_REMOTE(crash_always);

// The parent: notes its pid, submits the child and gets it (inline when nobody else can).
int parent_of_crash_first(std::string dir, std::string how) {
  append_line(dir + "/parent", std::to_string(::getpid()));
  return shmray::get(shmray::task(crash_first).remote(dir + "/child", how));
}
SHMRAY_REMOTE(parent_of_crash_first);

std::string parent_of_crash_always(std::string dir) {
  append_line(dir + "/parent", std::to_string(::getpid()));
  try {
    return "value " + std::to_string(shmray::get(shmray::task(crash_always).remote(dir + "/child")));
  } catch (const shmray::WorkerCrashedError& e) {
    return std::string("crashed: ") + e.what();
  }
}
SHMRAY_REMOTE(parent_of_crash_always);

void wait_file(const std::string& path) {
  const auto until = std::chrono::steady_clock::now() + 60s;
  while (::access(path.c_str(), F_OK) != 0 && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(1ms);
}

// Keeps one worker busy (not blocked in the API) so the parent's worker runs the child inline.
int busy_until(std::string gate) {
  wait_file(gate);
  return 0;
}
SHMRAY_REMOTE(busy_until);

}  // namespace

TEST_CASE("InlineCrash.ChildCrashingOnceInlineIsRetriedAndTheParentGetsItsValue" * doctest::timeout(240)) {
  for (unsigned workers : {1u, 2u}) {
    for (std::string how : {"segv", "abort"}) {
      CAPTURE(workers);
      CAPTURE(how);
      shmray::test::NoLeaks guard;
      shmray::test::TempDir dir;
      shmray::init({.num_workers = workers, .object_store_bytes = 16 << 20, .quiet = true});
      std::optional<shmray::ObjectRef<int>> busy;
      if (workers == 2) busy = shmray::task(busy_until).remote(dir.file("gate"));
      const auto t0 = std::chrono::steady_clock::now();
      // max_retries = 0: the parent's worker died for its child; the parent is not charged for it.
      auto parent = shmray::task(parent_of_crash_first).options({.max_retries = 0}).remote(dir.path(), how);
      try {
        CHECK(shmray::get(parent, 60s) == 7);
      } catch (const shmray::Error& e) {
        FAIL_CHECK("the parent failed: " << std::string(e.what()));
      }
      CHECK(std::chrono::steady_clock::now() - t0 < 60s);
      const auto parents = read_lines(dir.file("parent")), children = read_lines(dir.file("child"));
      REQUIRE(!parents.empty());
      REQUIRE(!children.empty());
      CHECK(children.front() == parents.front());  // the first attempt did run inline, in the parent's worker
      MESSAGE("parent runs: " << parents.size() << ", child runs: " << children.size());
      append_line(dir.file("gate"), "open");
      if (busy) CHECK(shmray::get(*busy, 30s) == 0);
      shmray::shutdown();
    }
  }
}

TEST_CASE("InlineCrash.ChildAlwaysCrashingGivesTheParentTheChildsError" * doctest::timeout(240)) {
  for (unsigned workers : {1u, 2u}) {
    CAPTURE(workers);
    shmray::test::NoLeaks guard;
    shmray::test::TempDir dir;
    shmray::init({.num_workers = workers, .object_store_bytes = 16 << 20, .quiet = true});
    std::optional<shmray::ObjectRef<int>> busy;
    if (workers == 2) busy = shmray::task(busy_until).remote(dir.file("gate"));
    const auto t0 = std::chrono::steady_clock::now();
    auto parent = shmray::task(parent_of_crash_always).remote(dir.path());
    try {
      const std::string got = shmray::get(parent, 120s);
      CHECK(got.rfind("crashed: ", 0) == 0);
      CHECK(got.find("crash_always") != std::string::npos);  // the child's error, naming the child
    } catch (const shmray::Error& e) {
      FAIL_CHECK("the parent failed: " << std::string(e.what()));
    }
    CHECK(std::chrono::steady_clock::now() - t0 < 120s);
    const auto parents = read_lines(dir.file("parent")), children = read_lines(dir.file("child"));
    REQUIRE(!parents.empty());
    REQUIRE(!children.empty());
    CHECK(children.front() == parents.front());  // its first crash was inline
    MESSAGE("parent runs: " << parents.size() << ", child runs: " << children.size());
    append_line(dir.file("gate"), "open");
    if (busy) CHECK(shmray::get(*busy, 30s) == 0);
    shmray::shutdown();
  }
}
