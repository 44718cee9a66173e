// init/shutdown/store_stats inside a task, shutdown() while other threads are blocked in
// the API, and timeouts too long for nanoseconds.
#include <doctest/doctest.h>

#include <shmray/shmray.hpp>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "api/gate.hpp"
#include "support/leak_check.hpp"

namespace {

using namespace std::chrono_literals;

int square(int x) { return x * x; }
SHMRAY_REMOTE(square);

int gated(std::string path, int v) {
  shmray_test::wait_for_gate(path);
  return v;
}
SHMRAY_REMOTE(gated);

const shmray::Options kSmall{.num_workers = 2, .object_store_bytes = 64 << 20, .quiet = true};

// ------------------------------------------------------------ lifecycle calls inside a task

int init_in_task() {
  try {
    shmray::init({.num_workers = 1, .quiet = true});
  } catch (const shmray::AlreadyInitializedError&) {
    return 1;
  }
  return 0;
}
SHMRAY_REMOTE(init_in_task);

int shutdown_in_task(int x) {
  shmray::shutdown();  // a no-op in a worker
  return shmray::get(shmray::task(square).remote(x));
}
SHMRAY_REMOTE(shutdown_in_task);

struct Stats {
  std::size_t capacity = 0, used = 0, objects = 0, reserved = 0;
  template <class A>
  void serialize(A& a) {
    a(capacity, used, objects, reserved);
  }
};

Stats stats_in_task(shmray::ObjectRef<std::vector<char>> held) {
  const auto st = shmray::store_stats();
  (void)held;
  return {st.capacity_bytes, st.used_bytes, st.objects, st.reserved_bytes};
}
SHMRAY_REMOTE(stats_in_task);

TEST_CASE("LifecycleMore.InitInsideATaskThrowsAlreadyInitialized" * doctest::timeout(60)) {
  shmray::test::NoLeaks leaks;
  shmray::Session s(kSmall);
  // Twice: both workers (one of them may have been forked while init() held its lock).
  for (int i = 0; i < 4; ++i) CHECK(shmray::get(shmray::task(init_in_task).remote(), 20s) == 1);
}

TEST_CASE("LifecycleMore.ShutdownInsideATaskIsANoOp" * doctest::timeout(60)) {
  shmray::test::NoLeaks leaks;
  shmray::Session s(kSmall);
  for (int i = 0; i < 4; ++i) CHECK(shmray::get(shmray::task(shutdown_in_task).remote(i), 20s) == i * i);
  CHECK(shmray::is_initialized());
  CHECK(shmray::get(shmray::task(square).remote(9), 20s) == 81);
}

TEST_CASE("LifecycleMore.StoreStatsInsideATaskGivesTheStats" * doctest::timeout(60)) {
  shmray::test::NoLeaks leaks;
  shmray::Session s(kSmall);
  auto big = shmray::put(std::vector<char>(1 << 20, 'x'));  // a 1 MiB object: a block of >= 1 MiB
  const auto outside = shmray::store_stats();
  const Stats in = shmray::get(shmray::task(stats_in_task).remote(big), 20s);
  CHECK(in.capacity == outside.capacity_bytes);
  CHECK(in.objects >= 1);
  CHECK(in.objects <= outside.objects + 8);
  CHECK(in.used >= (1u << 20));
  CHECK(in.used <= in.reserved);
  CHECK(in.reserved <= in.capacity);
  CHECK(in.reserved >= (1u << 20));
}

// ------------------------------------------------------- shutdown while calls are blocked

TEST_CASE("LifecycleMore.ShutdownWhileThreadsAreBlockedMakesThemThrow" * doctest::timeout(90)) {
  shmray::test::NoLeaks leaks;
  shmray_test::Gate gate;  // never opened: the tasks run until the pool stops
  // A long store_full_timeout: the put below waits for space until shutdown() stops it.
  shmray::init(
      {.num_workers = 2, .object_store_bytes = 16 << 20, .quiet = true, .store_full_timeout = std::chrono::hours(1)});
  auto a = shmray::task(gated).remote(gate.path(), 1);
  auto b = shmray::task(gated).remote(gate.path(), 2);
  auto filler = shmray::put(std::vector<char>(12 << 20, 'f'));  // most of the store, held
  std::atomic<int> named{0}, other{0}, started{0};
  auto blocked = [&](auto call) {
    return std::thread([&, call] {
      started.fetch_add(1);
      try {
        call();
        other.fetch_add(1);
      } catch (const shmray::NotInitializedError&) {
        named.fetch_add(1);
      } catch (...) {
        other.fetch_add(1);
      }
    });
  };
  std::vector<std::thread> threads;
  threads.push_back(blocked([&] { (void)shmray::get(a); }));
  threads.push_back(blocked([&] { (void)shmray::get(b, std::chrono::hours(1)); }));
  threads.push_back(blocked([&] { (void)shmray::wait(std::vector{a, b}, {.num_returns = 2}); }));
  threads.push_back(blocked([&] { (void)shmray::put(std::vector<char>(8 << 20, 'p')); }));
  while (started.load() < 4) std::this_thread::yield();
  std::this_thread::sleep_for(300ms);  // let them block (either way each must throw the named error)
  const auto t0 = std::chrono::steady_clock::now();
  shmray::shutdown();
  for (auto& t : threads) t.join();
  CHECK(std::chrono::steady_clock::now() - t0 < 15s);
  CHECK(named.load() == 4);
  CHECK(other.load() == 0);
  CHECK_FALSE(shmray::is_initialized());
  // The refs outlive the runtime: they go quietly.
}

TEST_CASE("LifecycleMore.InitAgainAfterAShutdownThatStoppedBlockedCalls" * doctest::timeout(90)) {
  shmray::test::NoLeaks leaks;
  shmray_test::Gate gate;
  shmray::init(kSmall);
  auto a = shmray::task(gated).remote(gate.path(), 1);
  std::atomic<bool> threw{false};
  std::thread t([&] {
    try {
      (void)shmray::get(a);
    } catch (const shmray::NotInitializedError&) {
      threw = true;
    }
  });
  std::this_thread::sleep_for(200ms);
  shmray::shutdown();
  t.join();
  CHECK(threw.load());
  shmray::init(kSmall);
  CHECK(shmray::get(shmray::task(square).remote(3), 20s) == 9);
  shmray::shutdown();
}

// ----------------------------------------------------------------- very long timeouts

TEST_CASE("LifecycleMore.HugeTimeoutsMeanNoLimit" * doctest::timeout(60)) {
  shmray::test::NoLeaks leaks;
  shmray::Session s(kSmall);
  auto r = shmray::task(square).remote(5);
  CHECK(shmray::get(r, std::chrono::hours::max()) == 25);
  CHECK(shmray::get(r, std::chrono::nanoseconds::max()) == 25);
  CHECK(shmray::get(r, std::chrono::seconds::max()) == 25);
  CHECK(shmray::get(r, std::chrono::years(10000)) == 25);
  CHECK(shmray::get(r, std::chrono::duration<double>(1e300)) == 25);
  CHECK(shmray::get(r, std::chrono::duration<long long, std::pico>::max()) == 25);
  CHECK(shmray::get(std::vector{r, r}, std::chrono::hours::max()) == std::vector{25, 25});
  auto v = shmray::put(std::vector<int>{1, 2});
  CHECK(shmray::get_view(v, std::chrono::hours::max()).size() == 2);
  auto [ready, rest] = shmray::wait(std::vector{r}, {.timeout = std::chrono::nanoseconds::max()});
  CHECK(ready.size() == 1);
  // A task still running, with a huge timeout: waits for it (not an instant timeout).
  auto slow = shmray::task(square).remote(r);
  CHECK(shmray::get(slow, std::chrono::hours::max()) == 625);
  // Negative stays an error.
  CHECK_THROWS_AS(shmray::get(r, -1s), std::invalid_argument);
  CHECK_THROWS_AS(shmray::get(r, std::chrono::hours::min()), std::invalid_argument);
  CHECK_THROWS_AS(shmray::get(r, std::chrono::duration<double>(-1e300)), std::invalid_argument);
}

TEST_CASE("LifecycleMore.HugeStoreFullTimeoutMeansNoLimit" * doctest::timeout(60)) {
  shmray::test::NoLeaks leaks;
  shmray::Session s({.num_workers = 1,
                     .object_store_bytes = 16 << 20,
                     .quiet = true,
                     .store_full_timeout = std::chrono::milliseconds::max()});
  auto p = shmray::put(std::vector<char>(1 << 20, 'x'));
  CHECK(shmray::get(p).size() == (1u << 20));
}

}  // namespace
