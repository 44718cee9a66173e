// Actors under load: each caller's calls run in its order even with four driver threads
// submitting 10,000 calls each at once; state persists between calls; and a bank actor's
// total never changes while 50 pool tasks (each holding a handle) transfer between its
// accounts concurrently, because its methods run one at a time.
#include <doctest/doctest.h>

#include <shmray/shmray.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <numeric>
#include <thread>
#include <vector>

#include "support/leak_check.hpp"

using namespace std::chrono_literals;

namespace {

constexpr int kThreads = 4;
constexpr int kCallsPerThread = 10'000;

// Records, per caller thread, the last sequence number seen and every gap or reordering.
class SeqRecorder {
 public:
  int record(int thread, int seq) {
    if (thread < 0 || thread >= kThreads) return ++bad_;
    if (seq != last_[thread] + 1) ++bad_;
    last_[thread] = seq;
    ++total_;
    return total_;
  }
  // {total, out-of-order count, last seq of thread 0..3}
  std::vector<long> summary() const {
    std::vector<long> out{total_, bad_};
    out.insert(out.end(), last_.begin(), last_.end());
    return out;
  }

 private:
  std::array<long, kThreads> last_{-1, -1, -1, -1};
  long total_ = 0;
  long bad_ = 0;
};
SeqRecorder* make_recorder() { return new SeqRecorder; }
SHMRAY_REMOTE(make_recorder);
SHMRAY_REMOTE(&SeqRecorder::record);
SHMRAY_REMOTE(&SeqRecorder::summary);

class Counter {
 public:
  explicit Counter(long start) : n_(start) {}
  long add(long k) { return n_ += k; }
  long value() const { return n_; }

 private:
  long n_;
};
Counter* make_counter(long start) { return new Counter(start); }
SHMRAY_REMOTE(make_counter);
SHMRAY_REMOTE(&Counter::add);
SHMRAY_REMOTE(&Counter::value);

// Accounts whose sum is invariant under transfer (a transfer that would overdraw is refused).
class Bank {
 public:
  Bank(int accounts, long each) : balance_(static_cast<std::size_t>(accounts), each) {}
  bool transfer(int from, int to, long amount) {
    if (from < 0 || to < 0 || from >= int(balance_.size()) || to >= int(balance_.size())) return false;
    if (amount < 0 || balance_[from] < amount) return false;
    balance_[from] -= amount;
    balance_[to] += amount;
    ++applied_;
    return true;
  }
  long total() const { return std::accumulate(balance_.begin(), balance_.end(), 0L); }
  std::vector<long> balances() const { return balance_; }
  long applied() const { return applied_; }

 private:
  std::vector<long> balance_;
  long applied_ = 0;
};
Bank* make_bank(int accounts, long each) { return new Bank(accounts, each); }
SHMRAY_REMOTE(make_bank);
SHMRAY_REMOTE(&Bank::transfer);
SHMRAY_REMOTE(&Bank::total);
SHMRAY_REMOTE(&Bank::balances);
SHMRAY_REMOTE(&Bank::applied);

constexpr int kAccounts = 8;
constexpr long kEach = 1000;

// A pool task: 100 pseudo-random transfers on the bank it was handed; returns how many applied.
long transfer_many(shmray::ActorHandle<Bank> bank, int seed, int n) {
  std::uint32_t x = static_cast<std::uint32_t>(seed) * 2654435761u + 1u;
  auto next = [&x] { return x = x * 1664525u + 1013904223u; };
  std::vector<shmray::ObjectRef<bool>> refs;
  for (int i = 0; i < n; ++i) {
    const int from = int(next() % kAccounts), to = int(next() % kAccounts);
    refs.push_back(bank.task(&Bank::transfer).remote(from, to, long(next() % 400)));
  }
  long applied = 0;
  for (bool ok : shmray::get(refs)) applied += ok;
  return applied;
}
SHMRAY_REMOTE(transfer_many);

}  // namespace

TEST_CASE("Actors.FourDriverThreadsKeepTheirOrder" * doctest::timeout(600)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 2, .quiet = true});
  {
    auto rec = shmray::actor(make_recorder).remote();
    std::vector<std::vector<shmray::ObjectRef<int>>> refs(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
      threads.emplace_back([&rec, &refs, t] {
        refs[t].reserve(kCallsPerThread);
        for (int seq = 0; seq < kCallsPerThread; ++seq)
          refs[t].push_back(rec.task(&SeqRecorder::record).remote(t, seq));
      });
    for (auto& th : threads) th.join();
    // Every call ran exactly once: the totals the calls returned are 1..40,000, each once.
    std::vector<char> seen(kThreads * kCallsPerThread + 1, 0);
    long dup_or_range = 0;
    for (int t = 0; t < kThreads; ++t)
      for (int total : shmray::get(refs[t], 300s)) {
        if (total < 1 || total > kThreads * kCallsPerThread || seen[total])
          ++dup_or_range;
        else
          seen[total] = 1;
      }
    CHECK(dup_or_range == 0);
    const std::vector<long> s = shmray::get(rec.task(&SeqRecorder::summary).remote(), 60s);
    REQUIRE(s.size() == 2 + kThreads);
    CHECK(s[0] == kThreads * kCallsPerThread);
    CHECK(s[1] == 0);  // no caller saw a call of its own run out of order
    for (int t = 0; t < kThreads; ++t) CHECK(s[2 + t] == kCallsPerThread - 1);
    // Within one thread, results are increasing: its calls ran in its submission order.
    for (int t = 0; t < kThreads; ++t) {
      const std::vector<int> got = shmray::get(refs[t]);
      int decreasing = 0;
      for (std::size_t i = 1; i < got.size(); ++i) decreasing += got[i] <= got[i - 1];
      CHECK(decreasing == 0);
    }
  }
  shmray::shutdown();
}

TEST_CASE("Actors.CounterKeepsItsState" * doctest::timeout(120)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 2, .quiet = true});
  {
    auto c = shmray::actor(make_counter).remote(7L);
    std::vector<shmray::ObjectRef<long>> refs;
    for (long i = 1; i <= 1000; ++i) refs.push_back(c.task(&Counter::add).remote(i));
    const std::vector<long> got = shmray::get(refs, 60s);
    long expect = 7;
    int wrong = 0;
    for (long i = 1; i <= 1000; ++i) wrong += got[std::size_t(i - 1)] != (expect += i);
    CHECK(wrong == 0);
    CHECK(shmray::get(c.task(&Counter::value).remote(), 60s) == 7 + 1000 * 1001 / 2);
    // A second actor of the same class has a state of its own.
    auto d = shmray::actor(make_counter).remote(-1L);
    CHECK(shmray::get(d.task(&Counter::add).remote(1L), 60s) == 0);
    CHECK(shmray::get(c.task(&Counter::value).remote(), 60s) == 7 + 1000 * 1001 / 2);
  }
  shmray::shutdown();
}

TEST_CASE("Actors.BankTotalIsInvariantUnderConcurrentTransfers" * doctest::timeout(600)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 2, .quiet = true});
  {
    auto bank = shmray::actor(make_bank).remote(kAccounts, kEach);
    constexpr int kTasks = 50, kTransfers = 100;
    std::vector<shmray::ObjectRef<long>> tasks;
    for (int i = 0; i < kTasks; ++i) tasks.push_back(shmray::task(transfer_many).remote(bank, i, kTransfers));
    // The driver audits while the tasks run: each total() is between two transfers.
    int audits = 0, off = 0;
    const auto until = std::chrono::steady_clock::now() + 300s;
    while (std::chrono::steady_clock::now() < until) {
      const auto [ready, rest] = shmray::wait(tasks, {.num_returns = tasks.size(), .timeout = 0s});
      off += shmray::get(bank.task(&Bank::total).remote(), 60s) != kAccounts * kEach;
      ++audits;
      if (rest.empty()) break;  // else past the deadline: get below fails for the hang
    }
    CHECK(off == 0);
    MESSAGE("audits while transferring: " << audits);
    const std::vector<long> applied_per_task = shmray::get(tasks, 300s);
    const long applied = std::accumulate(applied_per_task.begin(), applied_per_task.end(), 0L);
    CHECK(applied > 0);
    CHECK(shmray::get(bank.task(&Bank::applied).remote(), 60s) == applied);
    const std::vector<long> b = shmray::get(bank.task(&Bank::balances).remote(), 60s);
    REQUIRE(b.size() == std::size_t(kAccounts));
    CHECK(std::accumulate(b.begin(), b.end(), 0L) == kAccounts * kEach);
    for (long v : b) CHECK(v >= 0);
  }
  shmray::shutdown();
}
