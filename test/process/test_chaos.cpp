// Chaos: 20,000 tasks (tiny, 1 MiB results, pipelined pairs) while another thread SIGKILLs
// a random worker every 20 ms. Every result must be correct, none lost, no hang; the pool
// and the store are whole afterwards.
#include <doctest/doctest.h>
#include <signal.h>
#include <unistd.h>

#include <shmray/shmray.hpp>

#include <atomic>
#include <chrono>
#include <random>
#include <thread>

#include "support/leak_check.hpp"
#include "support/procs.hpp"

namespace {

using namespace std::chrono_literals;

long tiny(long i) { return 2 * i; }
SHMRAY_REMOTE(tiny);

std::vector<char> megabyte(long i) { return std::vector<char>(1 << 20, static_cast<char>(i & 0x7f)); }
SHMRAY_REMOTE(megabyte);

long plus_one(long x) { return x + 1; }
SHMRAY_REMOTE(plus_one);

struct Killer {
  std::atomic<bool> stop{false};
  std::atomic<int> kills{0};
  std::thread thread;
  explicit Killer(std::chrono::milliseconds every) {
    thread = std::thread([this, every] {
      std::mt19937 rng(12345);
      while (!stop) {
        std::this_thread::sleep_for(every);
        auto workers = shmray::test::workers_of();
        if (workers.empty()) continue;
        ::kill(workers[rng() % workers.size()], SIGKILL);
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

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr long kTasks = 4000;  // same mix, fewer tasks: sanitized workers are ~10x slower
#else
constexpr long kTasks = 20000;
#endif

}  // namespace

TEST_CASE("Chaos.RandomWorkerKillsLoseNothing" * doctest::timeout(600)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 2, .object_store_bytes = 256 << 20, .quiet = true});
  const shmray::StoreStats base = shmray::store_stats();
  const shmray::TaskOptions retry{.max_retries = -1};  // killed any number of times: retried until done
  const auto t0 = std::chrono::steady_clock::now();
  long checked = 0;
  {
    Killer killer(20ms);
    for (long start = 0; start < kTasks; start += 300) {  // windows, so 1 MiB results do not pile up
      std::vector<shmray::ObjectRef<long>> small;
      std::vector<std::pair<long, shmray::ObjectRef<std::vector<char>>>> big;
      std::vector<long> small_expect;
      for (long i = start; i < std::min(kTasks, start + 300); ++i) {
        switch (i % 3) {
          case 0:
            small.push_back(shmray::task(tiny).options(retry).remote(i));
            small_expect.push_back(2 * i);
            break;
          case 1:
            big.emplace_back(i, shmray::task(megabyte).options(retry).remote(i));
            break;
          default:
            small.push_back(shmray::task(plus_one).options(retry).remote(shmray::task(tiny).options(retry).remote(i)));
            small_expect.push_back(2 * i + 1);
        }
      }
      const auto got = shmray::get(small, 120s);
      for (std::size_t k = 0; k < got.size(); ++k) CHECK(got[k] == small_expect[k]);
      for (auto& [i, ref] : big) {
        auto v = shmray::get_view(ref);
        REQUIRE(v.size() == (1u << 20));
        CHECK(v[0] == static_cast<char>(i & 0x7f));
        CHECK(v[v.size() - 1] == static_cast<char>(i & 0x7f));
      }
      checked += static_cast<long>(got.size() + big.size());
    }
    killer.finish();
    MESSAGE("workers killed: " << killer.kills.load() << ", tasks: " << kTasks << ", seconds: "
                               << std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    CHECK(killer.kills.load() > 10);
  }
  CHECK(checked == kTasks - kTasks / 3 + kTasks / 3);  // every submission accounted for (pairs count once)
  // Whole again: both workers run tasks, and the store holds what it held before.
  CHECK(shmray::get(shmray::task(tiny).remote(21L), 30s) == 42);
  const auto until = std::chrono::steady_clock::now() + 20s;
  shmray::StoreStats now = shmray::store_stats();
  while ((now.objects != base.objects || now.used_bytes != base.used_bytes) && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(10ms);
    now = shmray::store_stats();
  }
  CHECK(now.objects == base.objects);
  CHECK(now.used_bytes == base.used_bytes);
  const auto until_workers = std::chrono::steady_clock::now() + 10s;
  while (shmray::test::workers_of().size() != 2 && std::chrono::steady_clock::now() < until_workers)
    std::this_thread::sleep_for(5ms);
  CHECK(shmray::test::workers_of().size() == 2);
}
