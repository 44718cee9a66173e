// Soak: 1,000,000 tasks, one in a hundred returning 1 MiB. At the end the store holds what
// it held before, and no process of the pool has grown: a leak of even a few bytes per task
// would show as tens of MiB.
#include <doctest/doctest.h>
#include <unistd.h>

#include <shmray/shmray.hpp>

#include <chrono>
#include <fstream>
#include <map>
#include <thread>

#include "support/leak_check.hpp"
#include "support/procs.hpp"
#include "support/sanitized.hpp"

namespace {

using namespace std::chrono_literals;

long tiny(long i) { return i ^ 0x5a5a; }
SHMRAY_REMOTE(tiny);

std::vector<char> megabyte(long i) { return std::vector<char>(1 << 20, static_cast<char>(i & 0x7f)); }
SHMRAY_REMOTE(megabyte);

// Private resident memory (RssAnon): a leak shows there. VmRSS would also count the pages of
// the shared store a process happened to touch, which depends on where results landed.
long rss_kib(int pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(f, line);)
    if (line.rfind("RssAnon:", 0) == 0) return std::stol(line.substr(8));
  return -1;
}

std::map<std::string, long> pool_rss() {
  std::map<std::string, long> out;
  out["driver"] = rss_kib(::getpid());
  out["fork server"] = rss_kib(shmray::test::fork_server_of());
  int k = 0;
  for (int w : shmray::test::workers_of()) out["worker " + std::to_string(k++)] = rss_kib(w);
  return out;
}

// Sanitized processes are ~10x slower; the full soak runs unsanitized.
constexpr long kTasks = shmray::test::kSanitized ? 50'000 : 1'000'000;

// One window of work: every value checked, every ref dropped at the end.
void run_window(long start, long n) {
  std::vector<shmray::ObjectRef<long>> small;
  std::vector<std::pair<long, shmray::ObjectRef<std::vector<char>>>> big;
  small.reserve(std::size_t(n));
  for (long i = start; i < start + n; ++i) {
    if (i % 100 == 0)
      big.emplace_back(i, shmray::task(megabyte).remote(i));
    else
      small.push_back(shmray::task(tiny).remote(i));
  }
  long wrong = 0, i = start;
  for (long v : shmray::get(small, 120s)) {
    if (i % 100 == 0) ++i;
    wrong += v != (i ^ 0x5a5a);
    ++i;
  }
  for (auto& [k, ref] : big) {
    auto view = shmray::get_view(ref);
    wrong += view.size() != (1u << 20) || view[12345] != static_cast<char>(k & 0x7f);
  }
  REQUIRE(wrong == 0);
}

}  // namespace

TEST_CASE("Soak.AMillionTasksLeaveNothingBehind" * doctest::timeout(900)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 2, .object_store_bytes = 256 << 20, .quiet = true});
  constexpr long kWindow = 10'000;
  for (long s = 0; s < 5 * kWindow; s += kWindow) run_window(s, kWindow);  // warm-up: caches reach size
  auto settle = [] {
    const auto until = std::chrono::steady_clock::now() + 20s;
    shmray::StoreStats st = shmray::store_stats();
    while (st.objects != 0 && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(10ms);
      st = shmray::store_stats();
    }
    std::this_thread::sleep_for(300ms);  // idle workers drain the frees they were sent
    return shmray::store_stats();
  };
  const shmray::StoreStats base = settle();
  const auto rss_before = pool_rss();
  const auto t0 = std::chrono::steady_clock::now();
  for (long s = 0; s < kTasks; s += kWindow) run_window(s, std::min(kWindow, kTasks - s));
  MESSAGE(kTasks << " tasks in " << std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()
                 << " s");
  const shmray::StoreStats after = settle();
  CHECK(after.objects == base.objects);
  CHECK(after.used_bytes == base.used_bytes);
  CHECK(after.reserved_bytes <= base.reserved_bytes + (4u << 20));  // a few cached spans may move
  // Sanitizers keep freed memory in quarantine and shadow: private memory says nothing there.
#ifndef SHMRAY_TEST_SANITIZED
  for (const auto& entry : pool_rss()) {
    // Named copies, not structured bindings: CAPTURE's lambda cannot capture a binding before clang 16.
    const auto& who = entry.first;
    const auto kib = entry.second;
    CAPTURE(who);
    const long before = rss_before.count(who) ? rss_before.at(who) : -1;
    MESSAGE(who << ": RssAnon " << before << " KiB -> " << kib << " KiB");
    REQUIRE(before > 0);
    CHECK(kib <= before + 4 * 1024);  // 4 bytes leaked per task would already be 4 MiB
  }
#else
  (void)rss_before;
#endif
}
