// Threads a task starts may use the API (issue 9, item 8): each submits, gets, waits and
// puts; only the task's own thread ever runs tasks inline, and the other threads'
// cancellation check looks at the task they belong to. Public headers only.
#include <doctest/doctest.h>

#include <shmray/shmray.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "support/leak_check.hpp"

using namespace std::chrono_literals;

namespace {

std::int64_t times_three(std::int64_t x) { return 3 * x; }
SHMRAY_REMOTE(times_three);

constexpr int kThreads = 16, kChildren = 50;

// Expected sum of one thread's results: 3 * sum of (t * 1000 + i).
std::int64_t expected_for(int t) {
  std::int64_t s = 0;
  for (int i = 0; i < kChildren; ++i) s += 3 * (std::int64_t(t) * 1000 + i);
  return s;
}

// A task whose 16 threads each submit 50 children and get them; with `mixed`, each thread
// also waits (with and without a timeout) and puts. Returns the number of wrong values;
// an exception on any thread becomes the task's error (its text names the thread).
std::int64_t threads_in_a_task(bool mixed) {
  std::vector<std::string> errors(kThreads);
  std::atomic<std::int64_t> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      try {
        std::vector<shmray::ObjectRef<std::int64_t>> refs;
        for (int i = 0; i < kChildren; ++i)
          refs.push_back(shmray::task(times_three).remote(std::int64_t(t) * 1000 + i));
        if (mixed) {
          auto put_ref = shmray::put(std::int64_t(t));
          if (shmray::get(put_ref) != t) wrong.fetch_add(1);
          auto [ready, rest] = shmray::wait(refs, {.num_returns = refs.size() / 2, .timeout = 30s});
          if (ready.size() != refs.size() / 2) wrong.fetch_add(1);
          (void)shmray::wait(refs, {.num_returns = refs.size(), .timeout = 0s});  // a poll
          auto [all, none] = shmray::wait(refs, {.num_returns = refs.size()});
          if (!none.empty()) wrong.fetch_add(1);
        }
        std::int64_t sum = 0;
        for (std::int64_t v : shmray::get(refs)) sum += v;
        if (sum != expected_for(t)) wrong.fetch_add(1);
        if (shmray::cancelled()) wrong.fetch_add(1);
      } catch (const std::exception& e) {
        errors[std::size_t(t)] = "thread " + std::to_string(t) + ": " + e.what();
      }
    });
  for (auto& th : threads) th.join();
  for (const auto& e : errors)
    if (!e.empty()) throw std::runtime_error(e);
  return wrong.load();
}
SHMRAY_REMOTE(threads_in_a_task);

// A task that runs `threads_in_a_task` as a child and gets it (the child runs inline on
// this task's own thread, or in another worker): threads in a task nested in a task.
std::int64_t parent_of_threaded(bool mixed) { return shmray::get(shmray::task(threads_in_a_task).remote(mixed)); }
SHMRAY_REMOTE(parent_of_threaded);

void run_rounds(unsigned workers, int rounds) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = workers, .object_store_bytes = 64 << 20, .quiet = true});
  for (int round = 0; round < rounds; ++round) {
    CAPTURE(round);
    const bool mixed = round % 2 == 1;
    auto top = round % 4 < 2 ? shmray::task(threads_in_a_task).options({.max_retries = 0}).remote(mixed)
                             : shmray::task(parent_of_threaded).options({.max_retries = 0}).remote(mixed);
    try {
      CHECK(shmray::get(top, 60s) == 0);
    } catch (const shmray::Error& e) {
      FAIL_CHECK(e.what());  // TaskCancelledError, WorkerCrashedError, a TaskError from a thread
    }
  }
  // The pool is still whole.
  CHECK(shmray::get(shmray::task(times_three).remote(std::int64_t{14}), 10s) == 42);
}

}  // namespace

TEST_CASE("TaskThreads.SixteenThreadsSubmitAndGetTwentyRounds" * doctest::timeout(300)) { run_rounds(2, 20); }

TEST_CASE("TaskThreads.WithOneWorker" * doctest::timeout(300)) { run_rounds(1, 8); }
