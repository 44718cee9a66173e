// get (one ref, a vector, with a timeout) and wait, through the public headers only.
#include <doctest/doctest.h>

#include <shmray/shmray.hpp>

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "api/gate.hpp"
#include "support/leak_check.hpp"

using namespace std::chrono_literals;

namespace {

int square(int x) { return x * x; }
SHMRAY_REMOTE(square);

/// Returns `v` once the gate at `path` is open.
int gated(std::string path, int v) {
  shmray_test::wait_for_gate(path);
  return v;
}
SHMRAY_REMOTE(gated);

/// Sleeps, then returns `v` (only used to make finishing order differ from submission order).
int sleepy(int ms, int v) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return v;
}
SHMRAY_REMOTE(sleepy);

int boom(int) { throw std::logic_error("boom"); }
SHMRAY_REMOTE(boom);

const shmray::Options kSmall{.num_workers = 2, .object_store_bytes = 64 << 20, .quiet = true};

using Refs = std::vector<shmray::ObjectRef<int>>;

/// Index of each of `part` in `all` (-1 when absent).
std::vector<int> positions(const Refs& part, const Refs& all) {
  std::vector<int> out;
  for (const auto& r : part) {
    int pos = -1;
    for (std::size_t i = 0; i < all.size(); ++i)
      if (all[i] == r) pos = int(i);
    out.push_back(pos);
  }
  return out;
}

}  // namespace

namespace doctest {
template <>
struct StringMaker<std::vector<int>> {
  static String convert(const std::vector<int>& v) {
    std::string s = "{";
    for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
    return (s + "}").c_str();
  }
};
}  // namespace doctest

namespace {}  // namespace

TEST_CASE("Get.OneRef" * doctest::timeout(30)) {
  shmray::test::NoLeaks guard;
  shmray::init(kSmall);
  shmray::ObjectRef<int> r = shmray::task(square).remote(12);
  CHECK(shmray::get(r) == 144);
  CHECK(shmray::get(r) == 144);  // a ref can be read many times
  CHECK(r.get() == 144);
  const shmray::ObjectRef<int> copy = r;
  CHECK(copy.get() == 144);
}

TEST_CASE("Get.VectorKeepsTheGivenOrder" * doctest::timeout(30)) {
  shmray::test::NoLeaks guard;
  shmray::init(kSmall);
  // Later submissions finish first: the result still follows the input order.
  Refs refs;
  for (int i = 0; i < 8; ++i) refs.push_back(shmray::task(sleepy).remote((8 - i) * 20, i));
  std::vector<int> values = shmray::get(refs);
  CHECK(values == std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7});
  // A permuted vector (with a repeated ref) comes back permuted.
  Refs permuted{refs[5], refs[0], refs[5], refs[7]};
  CHECK(shmray::get(permuted) == std::vector<int>{5, 0, 5, 7});
  CHECK(shmray::get(Refs{}).empty());
}

TEST_CASE("Get.TimeoutThrowsWhenNotReadyAndSucceedsWhenReady" * doctest::timeout(60)) {
  shmray::test::NoLeaks guard;
  shmray::init(kSmall);
  shmray_test::Gate gate;
  shmray::ObjectRef<int> r = shmray::task(gated).remote(gate.path(), 7);
  const auto t0 = std::chrono::steady_clock::now();
  CHECK_THROWS_AS(shmray::get(r, 50ms), shmray::GetTimeoutError);
  // Returns near the timeout, not when the task ends (the gate is still closed): generous bound.
  CHECK(std::chrono::steady_clock::now() - t0 < 20s);
  CHECK_THROWS_AS(shmray::get(r, 0ms), shmray::GetTimeoutError);
  CHECK_THROWS_AS(shmray::get(r, std::chrono::microseconds(1)), shmray::GetTimeoutError);
  CHECK_THROWS_AS(shmray::get(Refs{r}, 50ms), shmray::GetTimeoutError);
  CHECK_THROWS_AS(shmray::get(r, 10ms), shmray::Error);  // GetTimeoutError is an shmray::Error
  CHECK_THROWS_AS(shmray::get(r, std::chrono::duration<double>(0.02)), shmray::GetTimeoutError);

  // A vector with a ready ref first and a pending one after: the whole get times out.
  shmray::ObjectRef<int> ready = shmray::task(square).remote(3);
  REQUIRE(shmray::get(ready) == 9);
  CHECK_THROWS_AS(shmray::get(Refs{ready, r}, 50ms), shmray::GetTimeoutError);

  gate.open();
  CHECK(shmray::get(r, 30s) == 7);
  CHECK(shmray::get(r, 0ms) == 7);  // ready: a zero timeout is enough
  CHECK(shmray::get(Refs{ready, r}, 30s) == std::vector<int>{9, 7});
  CHECK(shmray::get(r, std::chrono::hours(24 * 365 * 100)) == 7);  // huge timeouts do not overflow
  CHECK(shmray::get(r, std::chrono::nanoseconds::max()) == 7);
  CHECK(shmray::get(r, std::chrono::duration<double>(0.5)) == 7);  // any duration type
  auto [ready_max, rest_max] = shmray::wait(Refs{r}, {.num_returns = 1, .timeout = std::chrono::nanoseconds::max()});
  CHECK(ready_max.size() == 1);
}

TEST_CASE("Get.TimeoutWithSleepingTask" * doctest::timeout(30)) {
  shmray::test::NoLeaks guard;
  shmray::init(kSmall);
  shmray::ObjectRef<int> r = shmray::task(sleepy).remote(2000, 5);  // still running at the check
  CHECK_THROWS_AS(shmray::get(r, 50ms), shmray::GetTimeoutError);
  CHECK(shmray::get(r, 20s) == 5);
}

TEST_CASE("Get.NegativeTimeoutIsInvalidArgument" * doctest::timeout(30)) {
  shmray::test::NoLeaks guard;
  shmray::init(kSmall);
  shmray::ObjectRef<int> r = shmray::task(square).remote(2);
  REQUIRE(shmray::get(r) == 4);
  CHECK_THROWS_AS(shmray::get(r, -1ms), std::invalid_argument);
  CHECK_THROWS_AS(shmray::get(r, std::chrono::seconds(-5)), std::invalid_argument);
  CHECK_THROWS_AS(shmray::get(Refs{r}, -1ms), std::invalid_argument);
}

TEST_CASE("Get.DefaultConstructedRefIsInvalidArgument" * doctest::timeout(30)) {
  shmray::test::NoLeaks guard;
  shmray::init(kSmall);
  shmray::ObjectRef<int> empty;
  CHECK_FALSE(empty);
  CHECK_THROWS_AS(shmray::get(empty), std::invalid_argument);
  CHECK_THROWS_AS(shmray::get(empty, 10ms), std::invalid_argument);
  CHECK_THROWS_AS(empty.get(), std::invalid_argument);
  CHECK_THROWS_AS(shmray::get(Refs{empty}), std::invalid_argument);
  CHECK_THROWS_AS(shmray::get_view(shmray::ObjectRef<std::vector<int>>{}), std::invalid_argument);
  // A moved-from ref is empty too.
  shmray::ObjectRef<int> r = shmray::task(square).remote(4);
  shmray::ObjectRef<int> moved = std::move(r);
  CHECK(shmray::get(moved) == 16);
  CHECK_THROWS_AS(shmray::get(r), std::invalid_argument);  // NOLINT(bugprone-use-after-move)
}

TEST_CASE("Wait.ReadyAndRestInInputOrder" * doctest::timeout(60)) {
  shmray::test::NoLeaks guard;
  shmray::init(kSmall);
  shmray_test::Gate gate;
  // Pending, done, pending, done, done. (The done ones run first: the two gated tasks then
  // hold both workers.)
  Refs done{shmray::task(square).remote(1), shmray::task(square).remote(3), shmray::task(square).remote(4)};
  REQUIRE(shmray::get(done) == std::vector<int>{1, 9, 16});
  Refs refs{shmray::task(gated).remote(gate.path(), 0), done[0], shmray::task(gated).remote(gate.path(), 2), done[1],
            done[2]};

  {
    auto [ready, rest] = shmray::wait(refs, {.num_returns = 3});
    CHECK(positions(ready, refs) == std::vector<int>{1, 3, 4});
    CHECK(positions(rest, refs) == std::vector<int>{0, 2});
  }
  {
    // At most num_returns are ready; every other ref is in rest; both in input order.
    auto [ready, rest] = shmray::wait(refs, {.num_returns = 2});
    REQUIRE(ready.size() == 2);
    REQUIRE(rest.size() == 3);
    const auto rp = positions(ready, refs), sp = positions(rest, refs);
    CHECK(rp[0] < rp[1]);
    CHECK(sp[0] < sp[1]);
    CHECK(sp[1] < sp[2]);
    for (int p : rp) CHECK((p == 1 || p == 3 || p == 4));
    // ready and rest together are exactly the input.
    std::vector<int> all(rp);
    all.insert(all.end(), sp.begin(), sp.end());
    std::sort(all.begin(), all.end());
    CHECK(all == std::vector<int>{0, 1, 2, 3, 4});
  }
  {
    auto [ready, rest] = shmray::wait(refs);  // num_returns defaults to 1
    CHECK(ready.size() == 1);
    CHECK(rest.size() == 4);
  }
  {
    auto [ready, rest] = shmray::wait(refs, {.num_returns = 1, .fetch_local = false});
    CHECK(ready.size() == 1);
    CHECK(rest.size() == 4);
  }
  gate.open();
  {
    auto [ready, rest] = shmray::wait(refs, {.num_returns = 5});
    CHECK(positions(ready, refs) == std::vector<int>{0, 1, 2, 3, 4});
    CHECK(rest.empty());
  }
  CHECK(shmray::get(refs) == std::vector<int>{0, 1, 2, 9, 16});
}

TEST_CASE("Wait.TimeoutReturnsWhatIsReadyWithoutThrowing" * doctest::timeout(60)) {
  shmray::test::NoLeaks guard;
  shmray::init(kSmall);
  shmray_test::Gate gate;
  Refs refs{shmray::task(square).remote(2), shmray::task(gated).remote(gate.path(), 5), shmray::task(square).remote(3)};
  REQUIRE(shmray::get(refs[0]) == 4);
  REQUIRE(shmray::get(refs[2]) == 9);

  auto t0 = std::chrono::steady_clock::now();
  auto [ready, rest] = shmray::wait(refs, {.num_returns = 3, .timeout = 100ms});
  CHECK(std::chrono::steady_clock::now() - t0 < 20s);  // generous: returns near the timeout
  CHECK(positions(ready, refs) == std::vector<int>{0, 2});
  CHECK(positions(rest, refs) == std::vector<int>{1});

  // A zero timeout polls.
  auto [ready0, rest0] = shmray::wait(refs, {.num_returns = 3, .timeout = 0ms});
  CHECK(positions(ready0, refs) == std::vector<int>{0, 2});
  CHECK(positions(rest0, refs) == std::vector<int>{1});

  // Only pending refs: nothing ready, no exception.
  auto [none, all] = shmray::wait(Refs{refs[1]}, {.num_returns = 1, .timeout = 50ms});
  CHECK(none.empty());
  CHECK(positions(all, refs) == std::vector<int>{1});

  gate.open();
  auto [ready2, rest2] = shmray::wait(Refs{refs[1]}, {.num_returns = 1, .timeout = 30s});
  CHECK(positions(ready2, refs) == std::vector<int>{1});
  CHECK(rest2.empty());
}

TEST_CASE("Wait.WithoutTimeoutBlocksUntilEnoughAreReady" * doctest::timeout(60)) {
  shmray::test::NoLeaks guard;
  shmray::init(kSmall);
  shmray_test::Gate gate;
  Refs refs;
  for (int i = 0; i < 4; ++i) refs.push_back(shmray::task(gated).remote(gate.path(), i));
  auto [before, pending] = shmray::wait(refs, {.num_returns = 1, .timeout = 50ms});
  CHECK(before.empty());
  CHECK(pending.size() == 4);
  gate.open();
  auto [ready, rest] = shmray::wait(refs, {.num_returns = 4});
  CHECK(positions(ready, refs) == std::vector<int>{0, 1, 2, 3});
  CHECK(rest.empty());
  CHECK(shmray::get(refs) == std::vector<int>{0, 1, 2, 3});
}

TEST_CASE("Wait.InvalidArguments" * doctest::timeout(30)) {
  shmray::test::NoLeaks guard;
  shmray::init(kSmall);
  Refs refs{shmray::task(square).remote(1), shmray::task(square).remote(2)};
  CHECK_THROWS_AS(shmray::wait(refs, {.num_returns = 0}), std::invalid_argument);
  CHECK_THROWS_AS(shmray::wait(refs, {.num_returns = 3}), std::invalid_argument);
  CHECK_THROWS_AS(shmray::wait(refs, {.num_returns = 3, .timeout = 10ms}), std::invalid_argument);
  Refs dup{refs[0], refs[1], refs[0]};
  CHECK_THROWS_AS(shmray::wait(dup, {.num_returns = 1}), std::invalid_argument);
  Refs copy_dup{refs[1], shmray::ObjectRef<int>(refs[1])};
  CHECK_THROWS_AS(shmray::wait(copy_dup, {.num_returns = 1}), std::invalid_argument);
  Refs with_empty{refs[0], shmray::ObjectRef<int>{}};
  CHECK_THROWS_AS(shmray::wait(with_empty, {.num_returns = 1}), std::invalid_argument);
  CHECK_THROWS_AS(shmray::wait(refs, {.num_returns = 1, .timeout = -1ms}), std::invalid_argument);
  // The valid call still works.
  auto [ready, rest] = shmray::wait(refs, {.num_returns = 2});
  CHECK(ready.size() == 2);
  CHECK(rest.empty());
}

TEST_CASE("Wait.EmptyListGivesEmptyResult" * doctest::timeout(30)) {
  shmray::test::NoLeaks guard;
  shmray::init(kSmall);
  auto [ready, rest] = shmray::wait(Refs{});
  CHECK(ready.empty());
  CHECK(rest.empty());
  auto [ready2, rest2] = shmray::wait(Refs{}, {.num_returns = 1, .timeout = 10ms});
  CHECK(ready2.empty());
  CHECK(rest2.empty());
}

TEST_CASE("Wait.FailedTaskCountsAsReady" * doctest::timeout(60)) {
  shmray::test::NoLeaks guard;
  shmray::init(kSmall);
  shmray_test::Gate gate;
  Refs refs{shmray::task(gated).remote(gate.path(), 1), shmray::task(boom).remote(0)};
  // Without a timeout: returns once the failed one is final, and does not throw.
  auto [ready, rest] = shmray::wait(refs, {.num_returns = 1});
  CHECK(positions(ready, refs) == std::vector<int>{1});
  CHECK(positions(rest, refs) == std::vector<int>{0});
  CHECK_THROWS_AS(shmray::get(refs[1]), shmray::TaskError);
  gate.open();
  auto [all, none] = shmray::wait(refs, {.num_returns = 2, .timeout = 30s});
  CHECK(all.size() == 2);
  CHECK(none.empty());
}

TEST_CASE("Wait.DrainingOneByOneYieldsEachRefOnceInInputOrder" * doctest::timeout(120)) {
  // The loop of issue 13: wait for one, go on with the rest; by copy and by move. Every ref
  // once, the first ready in input order each time (all are final), and nothing left over.
  shmray::test::NoLeaks guard;
  shmray::init(kSmall);
  Refs all;
  for (int i = 0; i < 2000; ++i) all.push_back(shmray::task(square).remote(i));
  (void)shmray::wait(all, {.num_returns = all.size()});
  Refs v = all;
  std::vector<int> order;
  while (!v.empty()) {
    auto [ready, rest] = shmray::wait(v, {.num_returns = 1});
    REQUIRE(ready.size() == 1);
    REQUIRE(rest.size() == v.size() - 1);
    CHECK(ready[0] == v[0]);
    order.push_back(positions(ready, all)[0]);
    v = std::move(rest);
  }
  std::vector<int> want(all.size());
  for (std::size_t i = 0; i < want.size(); ++i) want[i] = int(i);
  CHECK(order == want);
  v = all;
  order.clear();
  while (!v.empty()) {
    const std::size_t k = std::min<std::size_t>(3, v.size());
    auto [ready, rest] = shmray::wait(std::move(v), {.num_returns = k});
    for (int p : positions(ready, all)) order.push_back(p);
    v = std::move(rest);
  }
  CHECK(order == want);
}

TEST_CASE("Wait.RepeatCheckStaysRightOverManyCalls" * doctest::timeout(120)) {
  // A wait remembers which call last saw each object slot (16-bit call numbers, zeroed at the
  // wrap). A ref seen by one call is no repeat in the next, and 65,535 calls later, when the
  // number comes round again, it is still none; a real repeat is still one after the wrap.
  shmray::test::NoLeaks guard;
  shmray::init(kSmall);
  Refs r;
  for (int i = 0; i < 5; ++i) r.push_back(shmray::put(i));
  std::thread([&] {  // a thread of its own: its call numbers start at 1
    (void)shmray::wait(Refs{r[0], r[1]});
    CHECK_NOTHROW((void)shmray::wait(Refs{r[1], r[2]}));
    for (int k = 0; k < 65'533; ++k) (void)shmray::wait(Refs{r[2], r[3]});
    // Call number 1 again, where r[0] and r[1] were last seen.
    CHECK_NOTHROW((void)shmray::wait(Refs{r[0], r[4]}));
    CHECK_THROWS_AS((void)shmray::wait(Refs{r[3], r[2], r[3]}), std::invalid_argument);
    CHECK_NOTHROW((void)shmray::wait(Refs{r[1], r[0], r[3]}, {.num_returns = 3}));
  })
      .join();
}
