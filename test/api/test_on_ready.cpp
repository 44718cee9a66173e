// on_ready(ref, fn) and ObjectRef<T>::to_future(): each callback once, after its object is
// final, on a thread that is not the caller's; futures carry values and errors; pending ones
// end at shutdown() instead of hanging (issue 14, everyday helpers).
#include <doctest/doctest.h>

#include <shmray/shmray.hpp>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "api/gate.hpp"
#include "support/leak_check.hpp"
#include "support/procs.hpp"

using namespace std::chrono_literals;

namespace {

int square(int x) { return x * x; }
SHMRAY_REMOTE(square);

int gated(std::string path, int v) {
  shmray_test::wait_for_gate(path);
  return v;
}
SHMRAY_REMOTE(gated);

int boom(int) { throw std::logic_error("boom"); }
SHMRAY_REMOTE(boom);

void nothing() {}
SHMRAY_REMOTE(nothing);

/// Inside a task: futures of children, summed.
int sum_of_futures(int n) {
  std::vector<std::future<int>> fs;
  for (int i = 0; i < n; ++i) fs.push_back(shmray::task(square).remote(i).to_future());
  int sum = 0;
  for (auto& f : fs) sum += f.get();
  return sum;
}
SHMRAY_REMOTE(sum_of_futures);

/// Arms a callback on a child that waits for `gate` (the callback outlives this task), marks
/// `started`, then runs on for `ms` after it is cancelled (the notifier looks meanwhile).
int arm_then_linger(std::string gate, std::string marker, std::string started, int ms) {
  shmray::on_ready(shmray::task(gated).remote(gate, 1),
                   [marker](const shmray::ObjectRef<int>&) { shmray::test::append_line(marker, "ran"); });
  shmray::test::append_line(started, "started");
  while (!shmray::cancelled()) std::this_thread::sleep_for(1ms);
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return 0;
}
SHMRAY_REMOTE(arm_then_linger);

const shmray::Options kPool{.num_workers = 2, .object_store_bytes = 64 << 20, .quiet = true};

}  // namespace

TEST_CASE("OnReady.EachCallbackOnceAfterItsObjectIsFinal" * doctest::timeout(120)) {
  shmray::test::NoLeaks guard;
  shmray::init(kPool);
  shmray_test::Gate gate;
  auto held = shmray::task(gated).remote(gate.path(), 5);
  std::mutex mu;
  std::vector<int> values;
  std::set<std::thread::id> threads;
  std::atomic<int> calls{0};
  std::atomic<bool> opened{false};
  bool held_seen_early = false;
  shmray::on_ready(held, [&](const shmray::ObjectRef<int>& r) {
    std::lock_guard lock(mu);
    held_seen_early = !opened.load();
    values.push_back(r.get());
    threads.insert(std::this_thread::get_id());
    ++calls;
  });
  std::vector<shmray::ObjectRef<int>> refs;
  for (int i = 0; i < 1000; ++i) refs.push_back(shmray::task(square).remote(i));
  for (const auto& r : refs)
    shmray::on_ready(r, [&](const shmray::ObjectRef<int>& done) {
      std::lock_guard lock(mu);
      values.push_back(done.get());
      threads.insert(std::this_thread::get_id());
      ++calls;
    });
  const auto until = std::chrono::steady_clock::now() + 60s;
  while (calls.load() < 1000 && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(1ms);
  CHECK(calls.load() == 1000);  // all but the gated one
  opened = true;
  gate.open();
  while (calls.load() < 1001 && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(1ms);
  std::this_thread::sleep_for(50ms);  // a second call of any callback would show here
  std::lock_guard lock(mu);
  CHECK(calls.load() == 1001);
  CHECK(!held_seen_early);
  CHECK(threads.size() == 1);
  CHECK(threads.count(std::this_thread::get_id()) == 0);
  std::multiset<int> want{5};
  for (int i = 0; i < 1000; ++i) want.insert(i * i);
  CHECK(std::multiset<int>(values.begin(), values.end()) == want);
}

TEST_CASE("OnReady.FuturesCarryValuesAndErrors" * doctest::timeout(120)) {
  shmray::test::NoLeaks guard;
  shmray::init(kPool);
  std::future<int> v = shmray::task(square).remote(12).to_future();
  std::future<int> e = shmray::task(boom).remote(1).to_future();
  std::future<void> n = shmray::task(nothing).remote().to_future();
  std::future<std::string> p = shmray::put(std::string("in the store")).to_future();
  CHECK(v.get() == 144);
  CHECK_THROWS_AS(e.get(), shmray::TaskError);
  CHECK_NOTHROW(n.get());
  CHECK(p.get() == "in the store");
  // Inside a task, and a callback that throws does not stop the others.
  CHECK(shmray::task(sum_of_futures).remote(10).get() == 285);
  std::atomic<int> after{0};
  auto r = shmray::task(square).remote(2);
  shmray::on_ready(r, [](const shmray::ObjectRef<int>&) { throw std::runtime_error("callback error (expected)"); });
  shmray::on_ready(r, [&](const shmray::ObjectRef<int>& x) { after = x.get(); });
  const auto until = std::chrono::steady_clock::now() + 60s;
  while (after.load() == 0 && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(1ms);
  CHECK(after.load() == 4);
  CHECK_THROWS_AS(shmray::on_ready(shmray::ObjectRef<int>{}, [](const shmray::ObjectRef<int>&) {}),
                  std::invalid_argument);
}

/// Threads of this process named as on_ready's notifier.
std::size_t notifier_threads() {
  std::size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(e.path() / "comm");
    std::string name;
    n += (std::getline(comm, name) && name == "shmray-notify") ? 1 : 0;
  }
  return n;
}

TEST_CASE("OnReady.PendingFuturesEndAtShutdown" * doctest::timeout(120)) {
  std::future<int> pending;
  shmray_test::Gate gate;
  {
    shmray::test::NoLeaks guard;  // shuts the runtime down at the end of this block
    shmray::init(kPool);
    pending = shmray::task(gated).remote(gate.path(), 1).to_future();
    CHECK(notifier_threads() == 1);
  }
  REQUIRE(pending.wait_for(60s) == std::future_status::ready);  // no hang
  CHECK_THROWS_AS(pending.get(), std::future_error);
  // The notifier thread is gone with the pool: the next init() must not fork its workers from
  // a process with a thread of ours in it (ThreadSanitizer kills such a worker's new threads).
  CHECK(notifier_threads() == 0);
  // A new pool after it: on_ready works again.
  shmray::test::NoLeaks guard;
  shmray::init(kPool);
  CHECK(shmray::task(square).remote(3).to_future().get() == 9);
}

TEST_CASE("OnReady.AStuckCallbackDoesNotHangShutdown" * doctest::timeout(120)) {
  shmray::test::NoLeaks guard;
  shmray::init(kPool);
  // Shared with the callback, not on this stack: the notifier thread it blocks is left
  // detached by shutdown() and may outlive this test case if it fails early.
  struct Flags {
    std::atomic<bool> entered{false}, release{false};
  };
  const auto flags = std::make_shared<Flags>();
  shmray::on_ready(shmray::task(square).remote(3), [flags](const shmray::ObjectRef<int>&) {
    flags->entered = true;
    while (!flags->release.load()) std::this_thread::sleep_for(1ms);  // a callback that does not return
  });
  const auto until = std::chrono::steady_clock::now() + 60s;
  while (!flags->entered.load() && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(1ms);
  REQUIRE(flags->entered.load());
  shmray::shutdown();  // gives the callback 10 s, then leaves its thread to it
  CHECK(!shmray::is_initialized());
  flags->release = true;  // the detached notifier thread now returns and leaves
  const auto gone = std::chrono::steady_clock::now() + 30s;
  while (notifier_threads() > 0 && std::chrono::steady_clock::now() < gone) std::this_thread::sleep_for(1ms);
  CHECK(notifier_threads() == 0);
}

TEST_CASE("OnReady.ACancelOfTheWorkersTaskKeepsTheCallbacks" * doctest::timeout(120)) {
  // A worker's notifier thread works for no task: a cancel of the task the worker runs once
  // made its look throw, and every pending callback of the process was dropped.
  shmray::test::NoLeaks guard;
  shmray::test::TempDir dir;
  shmray::init(kPool);
  {
    shmray_test::Gate gate;
    const std::string marker = dir.file("ran"), started = dir.file("started");
    auto victim = shmray::task(arm_then_linger).remote(gate.path(), marker, started, 300);
    shmray::test::wait_file(started);
    shmray::cancel(victim, {.recursive = false});  // the child, and the callback on it, go on
    CHECK_THROWS_AS(shmray::get(victim, 60s), shmray::TaskCancelledError);
    CHECK_FALSE(shmray::test::file_exists(marker));
    gate.open();
    CHECK(shmray_test::eventually([&] { return shmray::test::file_exists(marker); }, 30s));
  }
  shmray::shutdown();
}
