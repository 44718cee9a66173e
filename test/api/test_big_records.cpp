// Records of any size: results, submissions, names and puts holding many refs travel whole
// between a worker and the driver (nothing hangs, nothing is trimmed, every contained ref
// stays pinned exactly as long as its container); and sizes from the user that overflow are
// refused before anything is allocated.
#include <doctest/doctest.h>

#include <shmray/shmray.hpp>

#include <chrono>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "api/gate.hpp"
#include "support/leak_check.hpp"

using namespace std::chrono_literals;

namespace {

using IntRef = shmray::ObjectRef<int>;
using Refs = std::vector<IntRef>;

const shmray::Options kOpts{.num_workers = 2, .object_store_bytes = 64 << 20, .quiet = true};

Refs echo_refs(Refs refs) { return refs; }
SHMRAY_REMOTE(echo_refs);

long long sum_refs(Refs refs) {
  long long s = 0;
  for (int v : shmray::get(refs)) s += v;
  return s;
}
SHMRAY_REMOTE(sum_refs);

/// Submits sum_refs with every ref as an argument (a nested submit holding refs.size() refs).
long long nested_sum(Refs refs) { return shmray::get(shmray::task(sum_refs).remote(refs)); }
SHMRAY_REMOTE(nested_sum);

/// Makes `n` objects inside the task and submits one task holding all of them.
long long nested_sum_of_puts(int n) {
  Refs refs;
  for (int i = 0; i < n; ++i) refs.push_back(shmray::put(i));
  return shmray::get(shmray::task(sum_refs).remote(refs));
}
SHMRAY_REMOTE(nested_sum_of_puts);

int one() { return 1; }
SHMRAY_REMOTE(one);

/// A nested submit whose TaskOptions::name is `bytes` long.
int named_child(std::size_t bytes) {
  shmray::TaskOptions o;
  o.name = std::string(bytes, 'n');
  return shmray::get(shmray::task(one).options(o).remote());
}
SHMRAY_REMOTE(named_child);

/// put() inside a task of a value holding `refs`; returns the ref of that value.
shmray::ObjectRef<Refs> put_holding(Refs refs) { return shmray::put(refs); }
SHMRAY_REMOTE(put_holding);

std::size_t buffer_inside(std::uint64_t n) {
  shmray::Buffer<std::uint64_t> b(static_cast<std::size_t>(n));
  return b.size();
}
SHMRAY_REMOTE(buffer_inside);

std::size_t objects_now() { return shmray::store_stats().objects; }

bool settles_at(std::size_t n) {
  return shmray_test::eventually([&] { return objects_now() == n; }, 20s);
}

/// The whole check for a container holding `n` refs made by the driver: once the container
/// is the only holder, every contained object is still there with its value; once the
/// container goes, everything goes. Run with one worker: a task after the one that made the
/// container means that everything the worker reported of it is in its event ring, and the
/// count can only reach `n + 1` once the driver has handled all of it.
template <class MakeContainer>
void check_pins(int n, MakeContainer make) {
  const std::size_t base = objects_now();
  auto refs = std::make_unique<Refs>();
  for (int i = 0; i < n; ++i) refs->push_back(shmray::put(i));
  shmray::ObjectRef<Refs> outer = make(*refs);
  REQUIRE(shmray::wait(std::vector<shmray::ObjectRef<Refs>>{outer}, {.num_returns = 1, .timeout = 60s}).ready.size() ==
          1);
  refs.reset();  // the driver's copies go: only the container (and no worker) holds them now
  REQUIRE(shmray::get(shmray::task(one).remote(), 60s) == 1);
  CHECK(settles_at(base + std::size_t(n) + 1));
  CHECK(objects_now() == base + std::size_t(n) + 1);
  {
    Refs back = shmray::get(outer, 30s);
    REQUIRE(back.size() == std::size_t(n));
    const std::vector<int> values = shmray::get(back, 30s);
    int wrong = 0;
    for (int i = 0; i < n; ++i) wrong += values[std::size_t(i)] != i;
    CHECK(wrong == 0);
  }
  outer = {};
  CHECK(settles_at(base));
  CHECK(objects_now() == base);
}

const shmray::Options kOneWorker{.num_workers = 1, .object_store_bytes = 64 << 20, .quiet = true, .max_workers = 1};

}  // namespace

TEST_CASE("BigRecords.ResultHolding10000RefsPinsEveryOne" * doctest::timeout(120)) {
  shmray::test::NoLeaks guard;
  shmray::init(kOneWorker);
  check_pins(10000, [](const Refs& r) { return shmray::task(echo_refs).remote(r); });
}

TEST_CASE("BigRecords.ResultHolding100000RefsPinsEveryOne" * doctest::timeout(240)) {
  shmray::test::NoLeaks guard;
  shmray::init(kOneWorker);
  check_pins(100000, [](const Refs& r) { return shmray::task(echo_refs).remote(r); });
}

TEST_CASE("BigRecords.PutInsideATaskOfAValueHolding10000Refs" * doctest::timeout(120)) {
  shmray::test::NoLeaks guard;
  shmray::init(kOneWorker);
  check_pins(10000, [](const Refs& r) {
    shmray::ObjectRef<shmray::ObjectRef<Refs>> holder = shmray::task(put_holding).remote(r);
    return shmray::get(holder, 60s);
  });
}

TEST_CASE("BigRecords.NestedSubmitWith10000RefArguments" * doctest::timeout(120)) {
  shmray::test::NoLeaks guard;
  shmray::init(kOpts);
  const std::size_t base = objects_now();
  constexpr int kN = 10000;
  long long want = 0;
  {
    Refs refs;
    for (int i = 0; i < kN; ++i) refs.push_back(shmray::put(i)), want += i;
    CHECK(shmray::get(shmray::task(nested_sum).remote(refs), 60s) == want);
  }
  CHECK(shmray::get(shmray::task(nested_sum_of_puts).remote(kN), 60s) == want);
  CHECK(settles_at(base));
}

TEST_CASE("BigRecords.TaskNamesOf100KBAnd1MBInsideATask" * doctest::timeout(120)) {
  shmray::test::NoLeaks guard;
  shmray::init(kOpts);
  CHECK(shmray::get(shmray::task(named_child).remote(std::size_t{100'000}), 60s) == 1);
  CHECK(shmray::get(shmray::task(named_child).remote(std::size_t{1'000'000}), 60s) == 1);
  CHECK(shmray::get(shmray::task(named_child).remote(std::size_t{1} << 20), 60s) == 1);
}

TEST_CASE("BigRecords.DriverSubmitWith100000RefArgumentsAnd1MBName" * doctest::timeout(240)) {
  shmray::test::NoLeaks guard;
  shmray::init(kOpts);
  const std::size_t base = objects_now();
  constexpr int kN = 100000;
  long long want = 0;
  {
    Refs refs;
    for (int i = 0; i < kN; ++i) refs.push_back(shmray::put(i)), want += i;
    shmray::TaskOptions o;
    o.name = std::string(1'000'000, 'd');
    CHECK(shmray::get(shmray::task(sum_refs).options(o).remote(refs), 120s) == want);
    CHECK(shmray::get(shmray::task(nested_sum).options(o).remote(refs), 120s) == want);
  }
  CHECK(settles_at(base));
}

TEST_CASE("BigRecords.NamesLongerThanTheLimitAreRefused" * doctest::timeout(60)) {
  shmray::test::NoLeaks guard;
  shmray::init(kOpts);
  shmray::TaskOptions o;
  o.name = std::string((std::size_t{16} << 20) + 1, 'x');
  CHECK_THROWS_AS(shmray::task(one).options(o).remote(), std::invalid_argument);
  CHECK(shmray::get(shmray::task(one).remote(), 30s) == 1);
}

TEST_CASE("BigRecords.BufferSizesThatOverflowAreRefusedBeforeAllocating" * doctest::timeout(60)) {
  shmray::test::NoLeaks guard;
  shmray::init(kOpts);
  // A few live objects next to which a wrong allocation would write.
  std::vector<shmray::ObjectRef<std::vector<int>>> neighbours;
  for (int i = 0; i < 16; ++i) neighbours.push_back(shmray::put(std::vector<int>(100, i)));
  const std::size_t base = objects_now();
  const std::size_t used = shmray::store_stats().used_bytes;
  constexpr std::size_t kMax = std::numeric_limits<std::size_t>::max();
  for (std::size_t n : {std::size_t{1} << 61, kMax / 8, kMax / 8 + 1, kMax, kMax - 7, (kMax - 8) / 8 + 1}) {
    CAPTURE(n);
    CHECK_THROWS_AS(shmray::Buffer<std::uint64_t>{n}, shmray::ObjectStoreFullError);
  }
  CHECK_THROWS_AS(shmray::Buffer<std::uint8_t>{kMax - 3}, shmray::ObjectStoreFullError);
  CHECK_THROWS_AS(shmray::Buffer<double>{std::size_t{1} << 40},
                  shmray::ObjectStoreFullError);  // fits size_t, not the store
  // Inside a task: the same error reaches the caller.
  CHECK_THROWS_AS(shmray::get(shmray::task(buffer_inside).remote(std::uint64_t{1} << 61), 30s),
                  shmray::ObjectStoreFullError);
  CHECK_THROWS_AS(shmray::get(shmray::task(buffer_inside).remote(std::uint64_t(kMax)), 30s),
                  shmray::ObjectStoreFullError);
  // The failed tasks' results go once the driver has handled their completions.
  CHECK(
      shmray_test::eventually([&] { return objects_now() == base && shmray::store_stats().used_bytes == used; }, 20s));
  CHECK(objects_now() == base);
  CHECK(shmray::store_stats().used_bytes == used);
  for (int i = 0; i < 16; ++i) CHECK(shmray::get(neighbours[std::size_t(i)]) == std::vector<int>(100, i));
  CHECK(shmray::get(shmray::task(buffer_inside).remote(std::uint64_t{1000}), 30s) == 1000);
}
