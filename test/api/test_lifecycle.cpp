// init/shutdown/is_initialized/Session, re-init, the start-up line and option validation,
// through the public headers only.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <shmray/shmray.hpp>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "api/gate.hpp"
#include "support/capture_fd.hpp"
#include "support/leak_check.hpp"

namespace {

int square(int x) { return x * x; }
SHMRAY_REMOTE(square);

int shout(int x) {
  std::printf("hello from a task %d\n", x);
  std::fflush(stdout);
  std::fprintf(stderr, "complaint from a task %d\n", x);
  return x;
}
SHMRAY_REMOTE(shout);

int gated(std::string path, int v) {
  shmray_test::wait_for_gate(path);
  return v;
}
SHMRAY_REMOTE(gated);

const shmray::Options kSmall{.num_workers = 2, .object_store_bytes = 64 << 20, .quiet = true};

using shmray::test::CaptureFd;

std::size_t physical_memory_bytes() {
  return static_cast<std::size_t>(::sysconf(_SC_PHYS_PAGES)) * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

}  // namespace

TEST_CASE("Lifecycle.InitShutdownIsInitialized" * doctest::timeout(30)) {
  shmray::test::NoLeaks guard;
  CHECK_FALSE(shmray::is_initialized());
  shmray::init(kSmall);
  CHECK(shmray::is_initialized());
  CHECK(shmray::get(shmray::task(square).remote(6)) == 36);
  shmray::shutdown();
  CHECK_FALSE(shmray::is_initialized());
  CHECK(shmray::test::live_children().empty());
  // Idempotent: more shutdowns do nothing.
  shmray::shutdown();
  shmray::shutdown();
  CHECK_FALSE(shmray::is_initialized());
}

TEST_CASE("Lifecycle.SessionInitsAndShutsDown" * doctest::timeout(30)) {
  shmray::test::NoLeaks guard;
  {
    shmray::Session session(kSmall);
    CHECK(shmray::is_initialized());
    CHECK(shmray::get(shmray::task(square).remote(9)) == 81);
  }
  CHECK_FALSE(shmray::is_initialized());
  CHECK(shmray::test::live_children().empty());
  // A Session after a Session.
  {
    shmray::Session session(kSmall);
    CHECK(shmray::get(shmray::task(square).remote(3)) == 9);
  }
  CHECK_FALSE(shmray::is_initialized());
}

TEST_CASE("Lifecycle.InitTwiceThrowsAlreadyInitialized" * doctest::timeout(30)) {
  shmray::test::NoLeaks guard;
  shmray::init(kSmall);
  CHECK_THROWS_AS(shmray::init(kSmall), shmray::AlreadyInitializedError);
  CHECK_THROWS_AS(shmray::init(), shmray::Error);  // AlreadyInitializedError is an shmray::Error
  CHECK_THROWS_AS(shmray::Session{kSmall}, shmray::AlreadyInitializedError);
  // The failed init left the running runtime alone.
  CHECK(shmray::is_initialized());
  CHECK(shmray::get(shmray::task(square).remote(5)) == 25);
}

TEST_CASE("Lifecycle.ApiBeforeInitThrowsNotInitialized" * doctest::timeout(30)) {
  shmray::test::NoLeaks guard;
  REQUIRE_FALSE(shmray::is_initialized());
  CHECK_THROWS_AS(shmray::put(1), shmray::NotInitializedError);
  CHECK_THROWS_AS(shmray::put(std::string("x")), shmray::NotInitializedError);
  CHECK_THROWS_AS(shmray::task(square).remote(2), shmray::NotInitializedError);
  CHECK_THROWS_AS(shmray::store_stats(), shmray::NotInitializedError);
  CHECK_FALSE(shmray::is_initialized());
  CHECK_FALSE(shmray::cancelled());  // outside a task: false, initialized or not
}

TEST_CASE("Lifecycle.ApiAfterShutdownThrowsNotInitialized" * doctest::timeout(30)) {
  shmray::test::NoLeaks guard;
  shmray::init(kSmall);
  shmray::ObjectRef<int> done = shmray::task(square).remote(4);
  REQUIRE(shmray::get(done) == 16);
  shmray::ObjectRef<std::vector<double>> vec = shmray::put(std::vector<double>(1000, 1.0));
  shmray::shutdown();

  CHECK_THROWS_AS(shmray::get(done), shmray::NotInitializedError);
  CHECK_THROWS_AS(shmray::get(done, std::chrono::milliseconds(10)), shmray::NotInitializedError);
  CHECK_THROWS_AS(done.get(), shmray::NotInitializedError);
  CHECK_THROWS_AS(shmray::get(std::vector<shmray::ObjectRef<int>>{done}), shmray::NotInitializedError);
  CHECK_THROWS_AS(shmray::wait(std::vector<shmray::ObjectRef<int>>{done}), shmray::NotInitializedError);
  CHECK_THROWS_AS(shmray::get_view(vec), shmray::NotInitializedError);
  CHECK_THROWS_AS(shmray::put(7), shmray::NotInitializedError);
  CHECK_THROWS_AS(shmray::task(square).remote(2), shmray::NotInitializedError);
  CHECK_THROWS_AS(shmray::task(square).remote(done), shmray::NotInitializedError);
  CHECK_THROWS_AS(shmray::store_stats(), shmray::NotInitializedError);
}

TEST_CASE("Lifecycle.RefsOutlivingShutdownAreHarmless" * doctest::timeout(30)) {
  shmray::test::NoLeaks guard;
  shmray::init(kSmall);
  auto stale = std::make_unique<shmray::ObjectRef<int>>(shmray::task(square).remote(3));
  auto stale_put = std::make_unique<shmray::ObjectRef<std::string>>(shmray::put(std::string(100000, 'x')));
  std::vector<shmray::ObjectRef<int>> stale_many;
  for (int i = 0; i < 100; ++i) stale_many.push_back(shmray::task(square).remote(i));
  REQUIRE(shmray::get(*stale) == 9);
  shmray::shutdown();

  // Destroying (and copying) refs with no runtime running is harmless.
  { shmray::ObjectRef<int> copy = *stale; }
  stale_many.clear();
  stale.reset();

  // A stale ref destroyed while a NEW runtime runs must not touch the new runtime's objects,
  // even when the new objects reuse the same slots.
  shmray::init(kSmall);
  auto fresh = shmray::put(std::string(100000, 'y'));
  auto fresh_task = shmray::task(square).remote(11);
  REQUIRE(shmray::get(fresh_task) == 121);
  const auto before = shmray::store_stats();
  stale_put.reset();
  const auto after = shmray::store_stats();
  CHECK(after.objects == before.objects);
  CHECK(after.used_bytes == before.used_bytes);
  CHECK(shmray::get(fresh) == std::string(100000, 'y'));
  CHECK(shmray::get(fresh_task) == 121);
}

TEST_CASE("Lifecycle.StaleRefFromEarlierSessionIsRejected" * doctest::timeout(30)) {
  shmray::test::NoLeaks guard;
  shmray::init(kSmall);
  shmray::ObjectRef<int> old = shmray::put(1234);
  REQUIRE(shmray::get(old) == 1234);
  shmray::shutdown();
  shmray::init(kSmall);
  shmray::ObjectRef<int> fresh = shmray::put(5678);  // likely the same slot as `old`
  CHECK_FALSE(old == fresh);
  // The stale ref must never read the new session's object. (The contract does not name the
  // error; the implementation throws std::invalid_argument.)
  CHECK_THROWS(shmray::get(old));
  CHECK_THROWS(shmray::task(square).remote(old));
  CHECK(shmray::get(fresh) == 5678);
}

TEST_CASE("Lifecycle.InitAgainAfterShutdownManyTimes" * doctest::timeout(60)) {
  shmray::test::NoLeaks guard;
  for (int round = 0; round < 6; ++round) {
    CAPTURE(round);
    CHECK_FALSE(shmray::is_initialized());
    shmray::init({.num_workers = unsigned(1 + round % 3), .object_store_bytes = 32 << 20, .quiet = true});
    CHECK(shmray::is_initialized());
    std::vector<shmray::ObjectRef<int>> refs;
    for (int i = 0; i < 50; ++i) refs.push_back(shmray::task(square).remote(i + round));
    auto put_ref = shmray::put(std::vector<int>(10000, round));
    auto values = shmray::get(refs);
    for (int i = 0; i < 50; ++i) CHECK(values[std::size_t(i)] == (i + round) * (i + round));
    CHECK(shmray::get(put_ref) == std::vector<int>(10000, round));
    CHECK(shmray::store_stats().objects >= 51);
    shmray::shutdown();  // refs still alive here: destroyed after shutdown at scope end
    CHECK_FALSE(shmray::is_initialized());
    CHECK(shmray::test::live_children().empty());
  }
}

TEST_CASE("Lifecycle.ShutdownWithWorkInFlight" * doctest::timeout(90)) {
  shmray::test::NoLeaks guard;
  shmray_test::Gate never;  // never opened: its tasks are still running at shutdown
  for (int round = 0; round < 4; ++round) {
    CAPTURE(round);
    shmray::init(kSmall);
    std::vector<shmray::ObjectRef<int>> refs;
    refs.push_back(shmray::task(gated).remote(never.path(), 1));
    refs.push_back(shmray::task(gated).remote(never.path(), 2));
    for (int i = 0; i < 1000; ++i) refs.push_back(shmray::task(square).remote(i));  // queued
    auto big = shmray::put(std::vector<double>(1 << 20, 1.0));
    const auto t0 = std::chrono::steady_clock::now();
    shmray::shutdown();  // kills the running tasks; must not wait for them
    CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(20));
    CHECK_FALSE(shmray::is_initialized());
    CHECK(shmray::test::live_children().empty());
  }
}

TEST_CASE("Lifecycle.StartupLineOnStderr" * doctest::timeout(30)) {
  shmray::test::NoLeaks guard;
  {
    CaptureFd err(2);
    shmray::init({.num_workers = 2, .object_store_bytes = std::size_t{512} << 20});
    err.restore();
    const std::string text = err.text();
    CAPTURE(text);
    CHECK(text.find("shmray: started 2 workers, 512 MiB object store\n") != std::string::npos);
    CHECK(shmray::get(shmray::task(square).remote(2)) == 4);
    shmray::shutdown();
  }
  {
    // num_workers = 0 means one per core; the line says how many that was.
    CaptureFd err(2);
    shmray::init({.num_workers = 0, .object_store_bytes = std::size_t{1} << 30});
    err.restore();
    const std::string text = err.text();
    CAPTURE(text);
    const unsigned n = std::max(1u, std::thread::hardware_concurrency());
    const std::string expected =
        "shmray: started " + std::to_string(n) + (n == 1 ? " worker, " : " workers, ") + "1.0 GiB object store\n";
    CHECK(text.find(expected) != std::string::npos);
    shmray::shutdown();
  }
}

TEST_CASE("Lifecycle.QuietPrintsNoStartupLine" * doctest::timeout(30)) {
  shmray::test::NoLeaks guard;
  CaptureFd err(2);
  shmray::init({.num_workers = 2, .object_store_bytes = 64 << 20, .quiet = true});
  CHECK(shmray::get(shmray::task(square).remote(2)) == 4);
  err.restore();
  const std::string text = err.text();
  CAPTURE(text);
  CHECK(text.find("shmray:") == std::string::npos);
}

TEST_CASE("Lifecycle.WorkerOutputReachesDriverPrefixed" * doctest::timeout(30)) {
  shmray::test::NoLeaks guard;
  // The fork server copies worker output to the driver's stdout/stderr as they were at init.
  CaptureFd out(1);
  CaptureFd err(2);
  shmray::init(kSmall);
  shmray::ObjectRef<int> r = shmray::task(shout).remote(42);
  REQUIRE(shmray::get(r) == 42);
  // Forwarding is asynchronous: give it a few seconds.
  const bool seen = shmray_test::eventually([&] {
    return out.text().find("hello from a task 42") != std::string::npos &&
           err.text().find("complaint from a task 42") != std::string::npos;
  });
  shmray::shutdown();
  err.restore();
  out.restore();
  const std::string o = out.text(), e = err.text();
  CAPTURE(o);
  CAPTURE(e);
  CHECK(seen);
  CHECK(o.find(") hello from a task 42\n") != std::string::npos);
  CHECK(o.find("(pid=") != std::string::npos);
  CHECK(e.find(") complaint from a task 42\n") != std::string::npos);
  CHECK(e.find("(pid=") != std::string::npos);
}

TEST_CASE("Lifecycle.OptionsOutOfRangeAreInvalidArguments" * doctest::timeout(30)) {
  shmray::test::NoLeaks guard;
  auto message_of = [](const shmray::Options& o) -> std::string {
    try {
      shmray::init(o);
    } catch (const std::invalid_argument& e) {
      return e.what();
    } catch (const std::exception& e) {
      return std::string("WRONG TYPE: ") + e.what();
    }
    shmray::shutdown();
    return "NO EXCEPTION";
  };

  std::string m = message_of({.num_workers = 100000, .object_store_bytes = 64 << 20, .quiet = true});
  CAPTURE(m);
  CHECK(m.find("num_workers") != std::string::npos);
  CHECK(m.find("100000") != std::string::npos);
  CHECK_FALSE(shmray::is_initialized());

  m = message_of({.num_workers = 1, .object_store_bytes = 512 << 10, .quiet = true});
  CHECK(m.find("object_store_bytes") != std::string::npos);
  CHECK(m.find("1 MiB") != std::string::npos);  // says what the lower bound is
  CHECK_FALSE(shmray::is_initialized());

  m = message_of({.num_workers = 1, .object_store_bytes = (std::size_t{1} << 20) - 1, .quiet = true});
  CHECK(m.find("object_store_bytes") != std::string::npos);

  m = message_of({.num_workers = 4, .object_store_bytes = 16 << 20, .quiet = true, .max_workers = 2});
  CHECK(m.find("max_workers") != std::string::npos);
  m = message_of({.num_workers = 1,
                  .object_store_bytes = 16 << 20,
                  .quiet = true,
                  .store_full_timeout = std::chrono::milliseconds(-1)});
  CHECK(m.find("store_full_timeout") != std::string::npos);

  const std::size_t too_big = 2 * physical_memory_bytes();
  m = message_of({.num_workers = 1, .object_store_bytes = too_big, .quiet = true});
  CHECK(m.find("object_store_bytes") != std::string::npos);
  CHECK(m.find("memory") != std::string::npos);
  CHECK_FALSE(shmray::is_initialized());
  CHECK(shmray::test::live_children().empty());

  // A failed init leaves nothing behind, and a valid one works afterwards.
  shmray::init({.num_workers = 1, .object_store_bytes = 16 << 20, .quiet = true});
  CHECK(shmray::get(shmray::task(square).remote(12)) == 144);
}

TEST_CASE("Lifecycle.SmallestStoreOfOneMiBWorks" * doctest::timeout(30)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 1, .object_store_bytes = std::size_t{1} << 20, .quiet = true});
  CHECK(shmray::store_stats().capacity_bytes == (std::size_t{1} << 20));
  CHECK(shmray::get(shmray::task(square).remote(8)) == 64);
  CHECK(shmray::get(shmray::put(std::vector<char>(100000, 'a'))).size() == 100000);
}

TEST_CASE("Lifecycle.StaleRefsStayHarmlessAcrossManySessions" * doctest::timeout(300)) {
  shmray::test::NoLeaks guard;
  // Refs from an old session must stay harmless however many sessions follow: ids carry a
  // session number, which must not let a ref from 255 sessions ago alias a new object.
  const shmray::Options tiny{.num_workers = 1, .object_store_bytes = 4 << 20, .quiet = true};
  shmray::init(tiny);
  auto stale = std::make_unique<shmray::ObjectRef<int>>(shmray::put(1));
  auto stale_task = std::make_unique<shmray::ObjectRef<int>>(shmray::task(square).remote(3));
  REQUIRE(shmray::get(*stale_task) == 9);
  shmray::shutdown();
  for (int round = 1; round <= 300; ++round) {
    CAPTURE(round);
    shmray::init(tiny);
    // The first objects of a fresh runtime: the same slots the stale refs name.
    shmray::ObjectRef<int> fresh = shmray::put(1000 + round);
    shmray::ObjectRef<int> fresh_task = shmray::task(square).remote(round);
    REQUIRE(shmray::get(fresh_task) == round * round);
    const bool aliased = fresh == *stale || fresh_task == *stale_task;
    if (aliased) {
      // Found the session that reuses the stale refs' ids: dropping the stale refs must not
      // free the new objects, and reading the stale refs must not yield the new values.
      FAIL_CHECK("round " << round << ": a ref from an earlier session compares equal to a new one (" << fresh.hex()
                          << ")");
      stale.reset();
      stale_task.reset();
      CHECK(shmray::get(fresh, std::chrono::seconds(5)) == 1000 + round);
      CHECK(shmray::get(fresh_task, std::chrono::seconds(5)) == round * round);
      CHECK(shmray::store_stats().objects == 2);
      shmray::shutdown();
      break;
    }
    shmray::shutdown();
  }
}
