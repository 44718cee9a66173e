// A busy machine: with 2 x CPUs busy-loop processes running beside the pool, every CPU has a
// process queued behind the pool's. Spinning there takes time slices from the others and a
// descheduled spinner may wait a whole slice: the pool must still finish every task, lose no
// result and not hang, and the hogs must be gone afterwards. (How fast it is under load is
// the bench's tasks_sync_per_s_loaded, not a test.)
#include <doctest/doctest.h>
#include <signal.h>
#include <unistd.h>

#include <shmray/shmray.hpp>

#include <cerrno>
#include <chrono>
#include <stdexcept>
#include <vector>

#include "support/hogs.hpp"
#include "support/leak_check.hpp"
#include "support/procs.hpp"
#include "support/sanitized.hpp"

namespace {

using namespace std::chrono_literals;
using shmray::test::Hogs;
using shmray::test::scaled;

int twice(int x) { return 2 * x; }
SHMRAY_REMOTE(twice);

bool gone(pid_t pid) { return ::kill(pid, 0) == -1 && errno == ESRCH; }  // reaped, not a zombie

void check_hogs_run(const Hogs& hogs) {
  REQUIRE(hogs.pids().size() == Hogs::twice_the_cpus());
  for (pid_t pid : hogs.pids()) CHECK(shmray::test::process_alive(pid));
}

}  // namespace

TEST_CASE("Loaded.SyncAndAsyncBurstsCompleteBesideBusyProcesses" * doctest::timeout(240)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 2, .object_store_bytes = 64 << 20, .quiet = true});
  std::vector<pid_t> hog_pids;
  {
    Hogs hogs(Hogs::twice_the_cpus());
    hog_pids = hogs.pids();
    check_hogs_run(hogs);
    const auto deadline = std::chrono::steady_clock::now() + 120s;
    const int sync_n = scaled(2000);
    int sync_ok = 0;
    for (int i = 0; i < sync_n && std::chrono::steady_clock::now() < deadline; ++i)
      sync_ok += shmray::get(shmray::task(twice).remote(i), 60s) == 2 * i;
    CHECK(sync_ok == sync_n);

    const int async_n = scaled(20000);
    std::vector<shmray::ObjectRef<int>> refs;
    refs.reserve(async_n);
    for (int i = 0; i < async_n; ++i) refs.push_back(shmray::task(twice).remote(i));
    const std::vector<int> values = shmray::get(refs, 120s);
    REQUIRE(values.size() == std::size_t(async_n));
    int async_ok = 0;
    for (int i = 0; i < async_n; ++i) async_ok += values[std::size_t(i)] == 2 * i;
    CHECK(async_ok == async_n);
    check_hogs_run(hogs);  // they ran the whole time: the load was real
  }
  for (pid_t pid : hog_pids) CHECK(gone(pid));
  // Quiet again: the pool serves as before (nothing the load did strands work).
  for (int i = 0; i < 200; ++i) REQUIRE(shmray::get(shmray::task(twice).remote(i), 10s) == 2 * i);
}

TEST_CASE("Loaded.HogsAreReapedWhenTheScopeThrows" * doctest::timeout(60)) {
  shmray::test::NoLeaks guard;  // no child left: the hogs were reaped, not just killed
  std::vector<pid_t> pids;
  try {
    Hogs hogs(3);
    pids = hogs.pids();
    for (pid_t pid : pids) REQUIRE(shmray::test::process_alive(pid));
    throw std::runtime_error("leaving the scope");
  } catch (const std::runtime_error&) {
  }
  REQUIRE(pids.size() == 3);
  for (pid_t pid : pids) CHECK(gone(pid));
}
