// Chaos: 20,000 tasks (tiny, 1 MiB results, pipelined pairs) while another thread SIGKILLs
// a random worker every 20 ms (and, in a second case, also kills the fork server once
// mid-run; in a third, SIGSTOPs and SIGCONTs random workers instead). Every result must be
// correct, none lost, no hang; the pool and the store are whole afterwards.
#include <doctest/doctest.h>
#include <signal.h>
#include <unistd.h>

#include <shmray/shmray.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <random>
#include <thread>

#include "support/leak_check.hpp"
#include "support/procs.hpp"
#include "support/sanitized.hpp"

namespace {

using namespace std::chrono_literals;

long tiny(long i) { return 2 * i; }
SHMRAY_REMOTE(tiny);

std::vector<char> megabyte(long i) { return std::vector<char>(1 << 20, static_cast<char>(i & 0x7f)); }
SHMRAY_REMOTE(megabyte);

long plus_one(long x) { return x + 1; }
SHMRAY_REMOTE(plus_one);

// Every `every`, does `what` to a random worker (SIGKILL by default).
struct Killer {
  std::atomic<bool> stop{false};
  std::atomic<int> kills{0};
  std::thread thread;
  explicit Killer(
      std::chrono::milliseconds every, std::function<void(int)> what = [](int pid) { ::kill(pid, SIGKILL); }) {
    thread = std::thread([this, every, what] {
      std::mt19937 rng(12345);
      while (!stop) {
        std::this_thread::sleep_for(every);
        auto workers = shmray::test::workers_of();
        if (workers.empty()) continue;
        what(workers[rng() % workers.size()]);
        ++kills;
      }
    });
  }
  ~Killer() { finish(); }
  void finish() {
    stop = true;
    if (thread.joinable()) thread.join();
  }
};

constexpr long kTasks = shmray::test::scaled(20000);  // same mix, fewer tasks under a sanitizer

// Runs the mix in windows of 300; `mid_run` is called once, at the middle window. Past
// `tasks`, windows go on (for at most 120 s) until `enough()`: a fast machine finishes the
// mix before the killer thread has struck often enough to mean anything.
void run_mix(long tasks, const std::function<void()>& mid_run = {}, const std::function<bool()>& enough = {}) {
  const shmray::TaskOptions retry{.max_retries = -1};  // killed any number of times: retried until done
  long checked = 0, submitted = 0;
  const auto give_up = std::chrono::steady_clock::now() + 120s;
  for (long start = 0; start < tasks || (enough && !enough() && std::chrono::steady_clock::now() < give_up);
       start += 300) {  // windows, so 1 MiB results do not pile up
    const long end = start < tasks ? std::min(tasks, start + 300) : start + 300;
    submitted += end - start;
    std::vector<shmray::ObjectRef<long>> small;
    std::vector<std::pair<long, shmray::ObjectRef<std::vector<char>>>> big;
    std::vector<long> small_expect;
    for (long i = start; i < end; ++i) {
      switch (i % 3) {
        case 0:
          small.push_back(shmray::task(tiny).options(retry).remote(i));
          small_expect.push_back(2 * i);
          break;
        case 1: big.emplace_back(i, shmray::task(megabyte).options(retry).remote(i)); break;
        default:
          small.push_back(shmray::task(plus_one).options(retry).remote(shmray::task(tiny).options(retry).remote(i)));
          small_expect.push_back(2 * i + 1);
      }
    }
    if (mid_run && start <= tasks / 2 && tasks / 2 < start + 300) mid_run();
    const auto got = shmray::get(small, 120s);
    for (std::size_t k = 0; k < got.size(); ++k) CHECK(got[k] == small_expect[k]);
    std::vector<shmray::ObjectRef<std::vector<char>>> big_refs;
    for (auto& b : big) big_refs.push_back(b.second);
    const auto [ready, rest] = shmray::wait(big_refs, {.num_returns = big_refs.size(), .timeout = 120s});
    REQUIRE(rest.empty());  // not a hang: a lost result
    for (auto& [i, ref] : big) {
      auto v = shmray::get_view(ref);
      REQUIRE(v.size() == (1u << 20));
      CHECK(v[0] == static_cast<char>(i & 0x7f));
      CHECK(v[v.size() - 1] == static_cast<char>(i & 0x7f));
    }
    checked += static_cast<long>(got.size() + big.size());
  }
  CHECK(checked == submitted);  // every submission accounted for (a pair counts once)
}

// Whole again: both workers run tasks, and the store holds what it held before.
void check_whole(const shmray::StoreStats& base) {
  CHECK(shmray::get(shmray::task(tiny).remote(21L), 30s) == 42);
  const auto until = std::chrono::steady_clock::now() + 20s;
  shmray::StoreStats now = shmray::store_stats();
  while ((now.objects != base.objects || now.used_bytes != base.used_bytes) &&
         std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(10ms);
    now = shmray::store_stats();
  }
  CHECK(now.objects == base.objects);
  CHECK(now.used_bytes == base.used_bytes);
  // The pool settles back at exactly num_workers: extra workers (started while others were
  // dead or blocked) leave after 1 s idle, replacements come up. Settled means 2 s in a row
  // at 2, within 30 s.
  const auto until_workers = std::chrono::steady_clock::now() + 30s;
  auto settled_since = std::chrono::steady_clock::now();
  std::size_t n = 0;
  while (std::chrono::steady_clock::now() < until_workers) {
    n = shmray::test::workers_of().size();
    if (n != 2) settled_since = std::chrono::steady_clock::now();
    if (std::chrono::steady_clock::now() - settled_since >= 2s) break;
    std::this_thread::sleep_for(5ms);
  }
  CHECK(n == 2);
  CHECK(std::chrono::steady_clock::now() - settled_since >= 2s);
}

double since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

TEST_CASE("Chaos.RandomWorkerKillsLoseNothing" * doctest::timeout(600)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 2, .object_store_bytes = 256 << 20, .quiet = true});
  const shmray::StoreStats base = shmray::store_stats();
  const auto t0 = std::chrono::steady_clock::now();
  {
    Killer killer(20ms);
    run_mix(kTasks, {}, [&] { return killer.kills.load() > 10; });
    killer.finish();
    MESSAGE("workers killed: " << killer.kills.load() << ", tasks: " << kTasks << ", seconds: " << since(t0));
    CHECK(killer.kills.load() > 10);
  }
  check_whole(base);
}

TEST_CASE("Chaos.ForkServerKilledMidRunLosesNothing" * doctest::timeout(600)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 2, .object_store_bytes = 256 << 20, .quiet = true});
  const shmray::StoreStats base = shmray::store_stats();
  const auto t0 = std::chrono::steady_clock::now();
  int old_fs = 0;
  {
    Killer killer(20ms);
    run_mix(kTasks, [&] {
      old_fs = shmray::test::fork_server_of();
      REQUIRE(old_fs > 0);
      ::kill(old_fs, SIGKILL);  // it and every worker it had: the driver starts a new one
    });
    killer.finish();
    MESSAGE("fork server killed once, workers killed: " << killer.kills.load() << ", seconds: " << since(t0));
  }
  CHECK(shmray::test::fork_server_of() != old_fs);
  check_whole(base);
}

// Stopped workers (a debugger, a cgroup freezer) that come back: nothing is lost, nothing
// hangs. Each stop lasts 30 ms; at the end every worker is running again.
TEST_CASE("Chaos.StoppedWorkersLoseNothing" * doctest::timeout(600)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 2, .object_store_bytes = 256 << 20, .quiet = true});
  const shmray::StoreStats base = shmray::store_stats();
  const auto t0 = std::chrono::steady_clock::now();
  {
    Killer stopper(20ms, [](int pid) {
      ::kill(pid, SIGSTOP);
      std::this_thread::sleep_for(30ms);
      ::kill(pid, SIGCONT);
    });
    run_mix(kTasks / 2, {}, [&] { return stopper.kills.load() > 10; });
    stopper.finish();
    MESSAGE("workers stopped: " << stopper.kills.load() << ", seconds: " << since(t0));
    CHECK(stopper.kills.load() > 10);
  }
  for (int w : shmray::test::workers_of()) ::kill(w, SIGCONT);
  check_whole(base);
}
