// Thread safety of the driver API: many host threads submit, get, wait and drop refs at
// once. Public headers only.
#include <doctest/doctest.h>

#include <shmray/shmray.hpp>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "api/gate.hpp"
#include "support/leak_check.hpp"

using namespace std::chrono_literals;

namespace {

std::int64_t square(std::int64_t x) { return x * x; }
SHMRAY_REMOTE(square);

std::int64_t add(std::int64_t a, std::int64_t b) { return a + b; }
SHMRAY_REMOTE(add);

std::int64_t gated(std::string path, std::int64_t v) {
  shmray_test::wait_for_gate(path);
  return v;
}
SHMRAY_REMOTE(gated);

/// Runs `body(t)` on `n` threads and collects the first error message of each.
template <class Body>
std::vector<std::string> run_threads(int n, Body body) {
  std::vector<std::string> errors(static_cast<std::size_t>(n));
  std::vector<std::thread> threads;
  for (int t = 0; t < n; ++t)
    threads.emplace_back([&, t] {
      try {
        body(t);
      } catch (const std::exception& e) {
        errors[std::size_t(t)] = std::string("exception: ") + e.what();
      }
    });
  for (auto& th : threads) th.join();
  return errors;
}

}  // namespace

TEST_CASE("Threads.ManyThreadsSubmitGetWaitAndDrop" * doctest::timeout(120)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 2, .object_store_bytes = 64 << 20, .quiet = true});
  constexpr int kThreads = 8, kTasks = 10000, kBatch = 100;  // the hardening issue: 10,000 each, run under TSan in CI
  std::atomic<long> wrong{0}, checked{0};
  auto errors = run_threads(kThreads, [&](int t) {
    const std::int64_t base = std::int64_t(t) * 1'000'000;
    for (int start = 0; start < kTasks; start += kBatch) {
      std::vector<shmray::ObjectRef<std::int64_t>> refs;
      for (int i = start; i < start + kBatch; ++i) refs.push_back(shmray::task(square).remote(base + i));
      // Wait for some, then get the ready ones one by one and the rest as a vector.
      auto [ready, rest] = shmray::wait(refs, {.num_returns = kBatch / 2, .timeout = 60s});
      if (ready.size() != std::size_t(kBatch / 2) || ready.size() + rest.size() != refs.size()) ++wrong;
      for (const auto& r : ready) (void)shmray::get(r, 0ms);  // ready: no waiting needed (throws otherwise)
      std::vector<std::int64_t> values = shmray::get(refs);
      for (int i = 0; i < kBatch; ++i) {
        const std::int64_t x = base + start + i;
        if (values[std::size_t(i)] != x * x) ++wrong;
        ++checked;
      }
      // Drop in a mixed way: some refs by copy/clear, some by moving out.
      std::vector<shmray::ObjectRef<std::int64_t>> copies(refs.begin(), refs.begin() + kBatch / 2);
      refs.clear();
      if (shmray::get(copies.back()) != (base + start + kBatch / 2 - 1) * (base + start + kBatch / 2 - 1)) ++wrong;
    }
  });
  for (int t = 0; t < kThreads; ++t)
    CHECK_MESSAGE(errors[std::size_t(t)].empty(), "thread " << t << ": " << errors[std::size_t(t)]);
  CHECK(wrong.load() == 0);
  CHECK(checked.load() == long(kThreads) * kTasks);
  // Everything was dropped: the store empties (frees of results are asynchronous).
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (shmray::store_stats().objects != 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(10ms);
  CHECK(shmray::store_stats().objects == 0);
}

TEST_CASE("Threads.SharedRefsCopiedAndDroppedConcurrently" * doctest::timeout(120)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 2, .object_store_bytes = 64 << 20, .quiet = true});
  std::vector<shmray::ObjectRef<std::int64_t>> shared;
  for (int i = 0; i < 200; ++i)
    shared.push_back(i % 2 ? shmray::put(std::int64_t(i)) : shmray::task(square).remote(std::int64_t(i)));
  std::atomic<long> wrong{0};
  auto errors = run_threads(8, [&](int t) {
    for (int round = 0; round < 20; ++round) {
      std::vector<shmray::ObjectRef<std::int64_t>> mine = shared;  // copies: refcounts race
      for (std::size_t i = std::size_t(t); i < mine.size(); i += 8) {
        const std::int64_t expected = i % 2 ? std::int64_t(i) : std::int64_t(i * i);
        if (shmray::get(mine[i]) != expected) ++wrong;
        // Pipelines between the threads' refs and shared ones.
        auto r = shmray::task(add).remote(mine[i], std::int64_t(round));
        if (shmray::get(r) != expected + round) ++wrong;
      }
      auto [ready, rest] = shmray::wait(mine, {.num_returns = mine.size(), .timeout = 60s});
      if (ready.size() != mine.size()) ++wrong;
      (void)rest;
      mine.clear();
      auto p = shmray::put(std::string(1000 + t, 'x'));
      if (shmray::get(p).size() != std::size_t(1000 + t)) ++wrong;
    }
  });
  for (int t = 0; t < 8; ++t)
    CHECK_MESSAGE(errors[std::size_t(t)].empty(), "thread " << t << ": " << errors[std::size_t(t)]);
  CHECK(wrong.load() == 0);
  // The shared refs are all still valid.
  for (std::size_t i = 0; i < shared.size(); ++i)
    CHECK(shmray::get(shared[i]) == (i % 2 ? std::int64_t(i) : std::int64_t(i * i)));
  const std::size_t expect = shared.size();
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (shmray::store_stats().objects != expect && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(10ms);
  CHECK(shmray::store_stats().objects == expect);
}

TEST_CASE("Threads.ManyThreadsBlockedOnOnePendingRef" * doctest::timeout(120)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 2, .object_store_bytes = 64 << 20, .quiet = true});
  shmray_test::Gate gate;
  const shmray::ObjectRef<std::int64_t> pending = shmray::task(gated).remote(gate.path(), std::int64_t{77});
  std::atomic<int> waiting{0};
  std::atomic<long> wrong{0};
  auto errors = run_threads(8, [&](int t) {
    if (++waiting == 8) gate.open();  // the last thread to arrive opens the gate
    switch (t % 4) {
      case 0:
        if (shmray::get(pending) != 77) ++wrong;
        break;
      case 1:
        if (pending.get() != 77) ++wrong;
        break;
      case 2:
        if (shmray::get(pending, 60s) != 77) ++wrong;
        break;
      default: {
        auto [ready, rest] = shmray::wait(std::vector<shmray::ObjectRef<std::int64_t>>{pending}, {.num_returns = 1});
        if (ready.size() != 1) ++wrong;
        if (shmray::get(pending) != 77) ++wrong;
      }
    }
  });
  for (int t = 0; t < 8; ++t)
    CHECK_MESSAGE(errors[std::size_t(t)].empty(), "thread " << t << ": " << errors[std::size_t(t)]);
  CHECK(wrong.load() == 0);
}

TEST_CASE("Threads.ConcurrentPutsAndViews" * doctest::timeout(120)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 2, .object_store_bytes = 64 << 20, .quiet = true});
  std::atomic<long> wrong{0};
  auto errors = run_threads(8, [&](int t) {
    for (int i = 0; i < 200; ++i) {
      const double tag = t * 1000 + i;
      auto r = shmray::put(std::vector<double>(std::size_t(1000 + 100 * t), tag));  // 8..13 KB
      auto v = shmray::get_view(r);
      for (double x : v)
        if (x != tag) ++wrong;
      auto s = shmray::task(add).remote(std::int64_t(t), std::int64_t(i));
      if (shmray::get(s) != t + i) ++wrong;
    }
  });
  for (int t = 0; t < 8; ++t)
    CHECK_MESSAGE(errors[std::size_t(t)].empty(), "thread " << t << ": " << errors[std::size_t(t)]);
  CHECK(wrong.load() == 0);
}
