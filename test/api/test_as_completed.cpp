// as_completed(refs): each ref once as it becomes final, in the driver and in a task; its
// timeout; and wait()'s one-by-one loop over many refs (issue 13, finding 1).
#include <doctest/doctest.h>

#include <shmray/shmray.hpp>

#include <algorithm>
#include <chrono>
#include <random>
#include <set>
#include <stdexcept>
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

/// Sleeps `us` microseconds, then returns `v`.
int nap(int us, int v) {
  std::this_thread::sleep_for(std::chrono::microseconds(us));
  return v;
}
SHMRAY_REMOTE(nap);

int gated(std::string path, int v) {
  shmray_test::wait_for_gate(path);
  return v;
}
SHMRAY_REMOTE(gated);

int boom(int) { throw std::logic_error("boom"); }
SHMRAY_REMOTE(boom);

using Refs = std::vector<shmray::ObjectRef<int>>;

/// Inside a task: n children (odd ones fail), consumed with as_completed; returns the sum of
/// the values, minus one for each failed child seen.
int consume_children(int n) {
  Refs refs;
  for (int i = 0; i < n; ++i) refs.push_back(i % 2 ? shmray::task(boom).remote(i) : shmray::task(noop).remote(i));
  int sum = 0, yielded = 0;
  for (shmray::ObjectRef<int>& r : shmray::as_completed(refs)) {
    ++yielded;
    try {
      sum += r.get();
    } catch (const shmray::TaskError&) {
      sum -= 1;
    }
  }
  return yielded == n ? sum : -1000000;
}
SHMRAY_REMOTE(consume_children);

const shmray::Options kPool{.num_workers = 2, .object_store_bytes = 256 << 20, .quiet = true};

}  // namespace

TEST_CASE("AsCompleted.EveryRefExactlyOnce" * doctest::timeout(120)) {
  shmray::test::NoLeaks guard;
  shmray::init(kPool);
  std::mt19937 rng(13);
  std::uniform_int_distribution<int> us(0, 200);
  Refs refs;
  for (int i = 0; i < shmray::test::scaled(10000); ++i) refs.push_back(shmray::task(nap).remote(us(rng), i));
  std::vector<int> seen(refs.size(), 0);
  std::set<std::uint64_t> ids;
  for (const auto& r : refs) ids.insert(r.id().value);
  std::size_t yielded = 0;
  for (shmray::ObjectRef<int> done : shmray::as_completed(refs)) {
    ++yielded;
    REQUIRE(ids.count(done.id().value) == 1);
    const int v = shmray::get(done, 0ms);  // final when yielded: no wait needed
    REQUIRE(v >= 0);
    REQUIRE(v < int(refs.size()));
    ++seen[std::size_t(v)];
  }
  CHECK(yielded == refs.size());
  CHECK(std::all_of(seen.begin(), seen.end(), [](int k) { return k == 1; }));
}

TEST_CASE("AsCompleted.YieldsInFinishingOrder" * doctest::timeout(60)) {
  shmray::test::NoLeaks guard;
  shmray::init(kPool);
  shmray_test::Gate gate;
  Refs refs{shmray::task(gated).remote(gate.path(), 0), shmray::task(noop).remote(1)};
  REQUIRE(shmray::get(refs[1]) == 1);
  auto range = shmray::as_completed(refs);
  auto it = range.begin();
  REQUIRE(it != range.end());
  CHECK(*it == refs[1]);  // the finished one first, though it comes second in the list
  gate.open();
  ++it;
  REQUIRE(it != range.end());
  CHECK(*it == refs[0]);
  ++it;
  CHECK(it == range.end());
}

TEST_CASE("AsCompleted.FailedRefsAreYieldedAndGetThrows" * doctest::timeout(60)) {
  shmray::test::NoLeaks guard;
  shmray::init(kPool);
  Refs refs;
  for (int i = 0; i < 20; ++i) refs.push_back(i % 4 == 0 ? shmray::task(boom).remote(i) : shmray::task(noop).remote(i));
  int failed = 0, ok = 0;
  for (shmray::ObjectRef<int>& r : shmray::as_completed(refs)) {
    try {
      (void)r.get();
      ++ok;
    } catch (const shmray::TaskError&) {
      ++failed;
    }
  }
  CHECK(failed == 5);
  CHECK(ok == 15);
}

TEST_CASE("AsCompleted.WorksInsideATask" * doctest::timeout(120)) {
  shmray::test::NoLeaks guard;
  shmray::init(kPool);
  // 200 children: the even ones return i (sum 0+2+...+198 = 9900), the 100 odd ones fail.
  CHECK(shmray::task(consume_children).remote(200).get() == 9900 - 100);
}

TEST_CASE("AsCompleted.TimeoutEndsTheRangeWithoutThrowing" * doctest::timeout(60)) {
  shmray::test::NoLeaks guard;
  shmray::init(kPool);
  shmray_test::Gate gate;
  Refs refs{shmray::task(gated).remote(gate.path(), 0), shmray::task(noop).remote(1)};
  REQUIRE(shmray::get(refs[1]) == 1);
  const auto t0 = std::chrono::steady_clock::now();
  auto range = shmray::as_completed(refs, 100ms);
  Refs yielded;
  for (auto& r : range) yielded.push_back(r);
  CHECK(std::chrono::steady_clock::now() - t0 < 20s);  // generous: ends near the deadline
  REQUIRE(yielded.size() == 1);
  CHECK(yielded[0] == refs[1]);
  Refs left = range.remaining();
  REQUIRE(left.size() == 1);
  CHECK(left[0] == refs[0]);

  // A zero timeout yields what is final now.
  Refs polled;
  for (auto& r : shmray::as_completed(refs, 0ms)) polled.push_back(r);
  CHECK(polled == Refs{refs[1]});
  CHECK_THROWS_AS(shmray::as_completed(refs, -1ms), std::invalid_argument);

  gate.open();
  std::size_t all = 0;
  for (auto& r : shmray::as_completed(refs, 30s)) all += r ? 1 : 0;
  CHECK(all == 2);
}

TEST_CASE("AsCompleted.EmptyInputAndInvalidRefs" * doctest::timeout(60)) {
  shmray::test::NoLeaks guard;
  shmray::init(kPool);
  std::size_t n = 0;
  for (auto& r : shmray::as_completed(Refs{})) n += r ? 1 : 0;
  CHECK(n == 0);
  for (auto& r : shmray::as_completed(Refs{}, 10ms)) n += r ? 1 : 0;
  CHECK(n == 0);

  Refs refs{shmray::task(noop).remote(1), shmray::task(noop).remote(2)};
  CHECK_THROWS_AS(shmray::as_completed(Refs{refs[0], refs[1], refs[0]}), std::invalid_argument);
  CHECK_THROWS_AS(shmray::as_completed(Refs{refs[1], shmray::ObjectRef<int>(refs[1])}), std::invalid_argument);
  CHECK_THROWS_AS(shmray::as_completed(Refs{refs[0], shmray::ObjectRef<int>{}}), std::invalid_argument);
  // The valid call still works, and so does a duplicate check over a long list.
  Refs many;
  for (int i = 0; i < 3000; ++i) many.push_back(shmray::task(noop).remote(i));
  Refs dup = many;
  dup.push_back(many[1234]);
  CHECK_THROWS_AS(shmray::as_completed(dup), std::invalid_argument);
  CHECK_THROWS_AS(shmray::wait(dup), std::invalid_argument);
  for (auto& r : shmray::as_completed(many)) n += r ? 1 : 0;
  CHECK(n == many.size());
}

TEST_CASE("AsCompleted.WaitLoopOver20kRefsFinishes" * doctest::timeout(120)) {
  shmray::test::NoLeaks guard;
  shmray::init(kPool);
  Refs v;
  // 4,000 in a sanitizer build: the loop is quadratic in the ref count, so 20k under TSan
  // takes a minute of scanning for the same behaviour.
  for (int i = 0; i < shmray::test::scaled(20000); ++i) v.push_back(shmray::task(noop).remote(i));
  const Refs all = v;
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<int> seen(v.size(), 0);
  while (!v.empty()) {
    auto [ready, rest] = shmray::wait(v, {.num_returns = 1});
    REQUIRE(ready.size() == 1);
    REQUIRE(rest.size() + 1 == v.size());
    ++seen[std::size_t(ready[0].get())];
    v = std::move(rest);
  }
  CHECK(std::chrono::steady_clock::now() - t0 < 60s);  // generous: a behaviour test, not a speed test
  CHECK(std::all_of(seen.begin(), seen.end(), [](int k) { return k == 1; }));
  // The rvalue form moves the refs: same answer.
  v = all;
  std::size_t n = 0;
  while (!v.empty()) {
    auto [ready, rest] = shmray::wait(std::move(v));
    n += ready.size();
    v = std::move(rest);
  }
  CHECK(n == all.size());
}

// Completions racing with the looks: a chain finishing link by link while the loop runs, with
// failing tasks, puts and tasks cancelled from inside the loop mixed in. Each ref exactly once,
// and final when yielded (get with a zero timeout does not wait).
TEST_CASE("AsCompleted.MixedCompletionsRacingWithTheLoop" * doctest::timeout(120)) {
  shmray::test::NoLeaks guard;
  shmray::init(kPool);
  shmray_test::Gate gate;
  Refs refs;
  const int links = shmray::test::scaled(3000);
  shmray::ObjectRef<int> link = shmray::task(noop).remote(0);
  refs.push_back(link);
  for (int i = 1; i < links; ++i) {
    link = shmray::task(noop).remote(link);  // runs when the link before is ready
    refs.push_back(link);
    if (i % 50 == 0) refs.push_back(shmray::task(boom).remote(i));
    if (i % 70 == 0) refs.push_back(shmray::put(i));
  }
  // Gated until cancelled from inside the loop (they hold both workers, so the chain waits
  // for the cancels; the puts, final at the first look, are yielded before them).
  Refs held;
  for (int i = 0; i < 4; ++i) held.push_back(shmray::task(gated).remote(gate.path(), i));
  refs.insert(refs.begin(), held.begin(), held.end());
  std::set<std::uint64_t> ids, seen;
  for (const auto& r : refs) ids.insert(r.id().value);
  REQUIRE(ids.size() == refs.size());
  std::size_t yielded = 0, failed = 0;
  for (shmray::ObjectRef<int>& done : shmray::as_completed(refs)) {
    if (++yielded == 3)
      for (const auto& h : held) shmray::cancel(h, {.force = true});
    REQUIRE(ids.count(done.id().value) == 1);
    REQUIRE(seen.insert(done.id().value).second);
    try {
      (void)shmray::get(done, 0ms);
    } catch (const shmray::GetTimeoutError&) {
      FAIL("a ref yielded before its object was final");
    } catch (const std::exception&) {  // a failed task or a cancelled one
      ++failed;
    }
  }
  gate.open();
  CHECK(yielded == refs.size());
  CHECK(failed == std::size_t((links - 1) / 50) + held.size());
}

// Objects freed while the loop runs and their slots taken again by new puts (same index, new
// generation): none of those is yielded, and every ref given is, once.
TEST_CASE("AsCompleted.ReusedObjectSlotsAreNotYielded" * doctest::timeout(120)) {
  shmray::test::NoLeaks guard;
  shmray::init(kPool);
  Refs refs;
  for (int i = 0; i < 2000; ++i) refs.push_back(shmray::task(nap).remote(i % 7 == 0 ? 300 : 0, i));
  std::set<std::uint64_t> ids;
  for (const auto& r : refs) ids.insert(r.id().value);
  std::vector<int> seen(refs.size(), 0);
  Refs churn;
  {
    auto range = shmray::as_completed(std::move(refs));
    for (shmray::ObjectRef<int>& done : range) {
      REQUIRE(ids.count(done.id().value) == 1);
      ++seen[std::size_t(shmray::get(done, 0ms))];
      done = {};  // drop the yielded ref: its slot may be freed and reused
      churn.push_back(shmray::put(-1));
      if (churn.size() > 64) churn.erase(churn.begin(), churn.begin() + 32);
    }
  }
  CHECK(std::all_of(seen.begin(), seen.end(), [](int k) { return k == 1; }));
}
