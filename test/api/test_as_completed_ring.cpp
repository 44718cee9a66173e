// as_completed() over the completion ring: a ring lapped many times over by completions of
// objects nobody watches while watched ones are still open (and finish during the flood), and
// a loop inside a task that sleeps between results. Each ref exactly once, final when yielded,
// and no step that hangs.
#include <doctest/doctest.h>

#include <shmray/shmray.hpp>

#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "api/gate.hpp"
#include "support/leak_check.hpp"
#include "support/sanitized.hpp"

using namespace std::chrono_literals;

namespace {

int noop(int x) { return x; }
SHMRAY_REMOTE(noop);

int gated(std::string path, int v) {
  shmray_test::wait_for_gate(path);
  return v;
}
SHMRAY_REMOTE(gated);

int nap_ms(int ms, int v) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return v;
}
SHMRAY_REMOTE(nap_ms);

using Refs = std::vector<shmray::ObjectRef<int>>;

/// `n` tasks that each finish over `ms` ms after the one before (a chain of naps), consumed with
/// as_completed inside this task: returns how many were yielded, or -1 when a value came twice.
int consume_chain(int n, int ms) {
  Refs refs;
  shmray::ObjectRef<int> link = shmray::task(nap_ms).remote(ms, 0);
  refs.push_back(link);
  for (int i = 1; i < n; ++i) {
    link = shmray::task(nap_ms).remote(ms, link);  // runs when the one before is ready
    refs.push_back(link);
  }
  std::set<std::uint64_t> seen;
  int yielded = 0;
  for (shmray::ObjectRef<int>& r : shmray::as_completed(refs)) {
    if (!seen.insert(r.id().value).second) return -1;
    (void)shmray::get(r, 0ms);
    ++yielded;
  }
  return yielded;
}
SHMRAY_REMOTE(consume_chain);

const shmray::Options kPool{.num_workers = 2, .object_store_bytes = 256 << 20, .quiet = true};

/// get() of `n` noop tasks, whose refs are dropped after: completions for nobody's watch.
void flood(int n) {
  Refs many;
  many.reserve(std::size_t(n));
  for (int i = 0; i < n; ++i) many.push_back(shmray::task(noop).remote(i));
  (void)shmray::get(many);
}

}  // namespace

TEST_CASE("AsCompletedRing.LappedRingStillYieldsEachWatchedRefOnce" * doctest::timeout(120)) {
  shmray::test::NoLeaks guard;
  shmray::init(kPool);
  shmray_test::Gate gate;
  const shmray::ObjectRef<int> first = shmray::put(-1);
  const shmray::ObjectRef<int> slow = shmray::task(gated).remote(gate.path(), 0);
  Refs refs{first, slow};
  for (int i = 1; i <= 100; ++i) refs.push_back(shmray::task(noop).remote(slow));  // wait on `slow`, no worker held
  std::set<std::uint64_t> ids, seen;
  for (const auto& r : refs) ids.insert(r.id().value);
  auto range = shmray::as_completed(refs);
  auto it = range.begin();  // the watch is registered; `first` is final already
  REQUIRE(it != range.end());
  CHECK(*it == first);
  seen.insert((*it).id().value);
  flood(6000);  // more than a ring (4096 entries) of completions nobody here watches
  gate.open();  // `slow` and its 100 dependents finish amid the next flood: their entries lapped too
  flood(6000);
  for (++it; it != range.end(); ++it) {
    const auto t0 = std::chrono::steady_clock::now();
    REQUIRE(ids.count((*it).id().value) == 1);
    REQUIRE(seen.insert((*it).id().value).second);
    CHECK_NOTHROW((void)shmray::get(*it, 0ms));  // final when yielded
    CHECK(std::chrono::steady_clock::now() - t0 < 10s);
  }
  CHECK(seen.size() == refs.size());
  CHECK(range.remaining().empty());
}

TEST_CASE("AsCompletedRing.SlowRefAfterManyLapsIsYieldedOnce" * doctest::timeout(120)) {
  shmray::test::NoLeaks guard;
  shmray::init(kPool);
  shmray_test::Gate gate;
  Refs refs{shmray::put(1), shmray::task(gated).remote(gate.path(), 2)};
  auto range = shmray::as_completed(refs, 60s);
  auto it = range.begin();
  REQUIRE(it != range.end());
  CHECK(*it == refs[0]);
  flood(shmray::test::scaled(20000));  // some laps of the ring while `slow` is open
  gate.open();
  const auto t0 = std::chrono::steady_clock::now();
  ++it;
  REQUIRE(it != range.end());
  CHECK(*it == refs[1]);
  CHECK(shmray::get(*it, 0ms) == 2);
  CHECK(std::chrono::steady_clock::now() - t0 < 20s);  // not the range's deadline
  ++it;
  CHECK(it == range.end());
  CHECK(range.remaining().empty());
}

TEST_CASE("AsCompletedRing.InsideATaskThatSleepsBetweenResults" * doctest::timeout(120)) {
  shmray::test::NoLeaks guard;
  shmray::init(kPool);
  // 30 links of 5 ms: the loop sleeps (marks, epoch) between most of them, in a worker.
  CHECK(shmray::task(consume_chain).remote(30, 5).get() == 30);
  // And from the driver, while another as_completed runs in a task.
  auto inner = shmray::task(consume_chain).remote(20, 2);
  Refs outer;
  for (int i = 0; i < 50; ++i) outer.push_back(shmray::task(nap_ms).remote(1, i));
  std::size_t n = 0;
  for (auto& r : shmray::as_completed(outer)) n += r ? 1 : 0;
  CHECK(n == outer.size());
  CHECK(inner.get() == 20);
}

TEST_CASE("AsCompletedRing.ShutdownWhileARangeLivesAndReinit" * doctest::timeout(120)) {
  shmray::test::NoLeaks guard;
  shmray::init(kPool);
  shmray_test::Gate gate;
  Refs refs{shmray::put(1), shmray::task(gated).remote(gate.path(), 2)};
  {
    auto range = shmray::as_completed(refs);
    auto it = range.begin();  // registered
    REQUIRE(it != range.end());
    gate.open();
    refs.clear();
    shmray::shutdown();
    shmray::init(kPool);  // a new segment: the range's watch is not its to end
    Refs again{shmray::put(3)};
    std::size_t n = 0;
    for (auto& r : shmray::as_completed(again)) n += shmray::get(r) == 3 ? 1 : 0;
    CHECK(n == 1);
  }  // the old range goes here, in the new runtime
  Refs later{shmray::task(noop).remote(4)};
  std::size_t n = 0;
  for (auto& r : shmray::as_completed(later)) n += shmray::get(r) == 4 ? 1 : 0;
  CHECK(n == 1);
}
