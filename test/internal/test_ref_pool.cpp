// The reference-handle pool (lib/src/ref_pool.*): handles given back on any thread are made
// again, every handle is distinct while held, and a child forked while another thread is in
// the pool can still give handles back and make new ones (the pool's fork handlers).
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <set>
#include <thread>
#include <vector>

#include "ref_pool.hpp"

using shmray::detail::ObjectId;
using shmray::detail::RefHandle;
namespace pool = shmray::ref_pool;

TEST_CASE("RefPool.HandlesAreDistinctAndCarryTheirFields" * doctest::timeout(30)) {
  std::vector<RefHandle*> held;
  std::set<RefHandle*> seen;
  for (std::uint32_t i = 0; i < 20'000; ++i) {
    RefHandle* h = pool::make(ObjectId::make(1, 2, i), 7);
    CHECK(h->count.load() == 1);
    held.push_back(h);
    seen.insert(h);
  }
  CHECK(seen.size() == held.size());
  for (std::uint32_t i = 0; i < held.size(); ++i) {
    CHECK(held[i]->id.index() == i);
    CHECK(held[i]->runtime == 7);
  }
  for (RefHandle* h : held) pool::give_back(h);
}

TEST_CASE("RefPool.HandlesGivenBackOnOtherThreadsAreMadeAgain" * doctest::timeout(60)) {
  // Threads make handles and hand them to the next thread to give back, for many rounds: a
  // lost or doubly given cell shows as a handle made twice while held.
  constexpr int kThreads = 4, kRounds = 200, kPer = 700;
  std::vector<std::vector<RefHandle*>> made(kThreads);
  std::atomic<bool> bad{false};
  for (int round = 0; round < kRounds && !bad; ++round) {
    std::vector<std::thread> ts;
    for (int t = 0; t < kThreads; ++t)
      ts.emplace_back([&, t] {
        for (RefHandle* h : made[t]) pool::give_back(h);  // made by another thread last round
        made[t].clear();
        for (int i = 0; i < kPer; ++i) made[t].push_back(pool::make(ObjectId::make(1, 1, std::uint32_t(i)), 1));
      });
    for (auto& th : ts) th.join();
    std::set<RefHandle*> all;
    for (auto& v : made) all.insert(v.begin(), v.end());
    if (all.size() != std::size_t(kThreads) * kPer) bad = true;
    std::rotate(made.begin(), made.begin() + 1, made.end());
  }
  CHECK_FALSE(bad.load());
  for (auto& v : made)
    for (RefHandle* h : v) pool::give_back(h);
}

TEST_CASE("RefPool.AChildForkedWhileAnotherThreadUsesThePoolCanUseIt" * doctest::timeout(120)) {
  // Another thread makes and gives back handles in batches larger than a thread keeps, so it
  // takes the pool's lock all the time. A child forked meanwhile gives back more handles
  // than a thread keeps and makes as many again: without the fork handlers it would find
  // the lock held by a thread it does not have, and hang.
  std::atomic<bool> stop{false};
  std::thread churn([&] {
    std::vector<RefHandle*> v;
    while (!stop.load(std::memory_order_relaxed)) {
      for (int i = 0; i < 600; ++i) v.push_back(pool::make(ObjectId::make(1, 1, 1), 1));
      for (RefHandle* h : v) pool::give_back(h);
      v.clear();
    }
  });
  std::vector<RefHandle*> mine;
  for (int i = 0; i < 1200; ++i) mine.push_back(pool::make(ObjectId::make(1, 1, 2), 1));
  int hung = 0, failed = 0;
  for (int k = 0; k < 200; ++k) {
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      for (RefHandle* h : mine) pool::give_back(h);
      for (int i = 0; i < 1200; ++i) (void)pool::make(ObjectId::make(1, 1, 3), 1);
      _exit(0);
    }
    int status = 0;
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    pid_t got = 0;
    while ((got = waitpid(pid, &status, WNOHANG)) == 0 && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    if (got == 0) {
      ++hung;
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      break;  // one is enough
    } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      ++failed;
    }
  }
  stop = true;
  churn.join();
  for (RefHandle* h : mine) pool::give_back(h);
  CHECK(hung == 0);
  CHECK(failed == 0);
}
