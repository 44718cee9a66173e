// Large arguments passed by value (issue 13, finding 4): they are written once, straight into
// the store, and must arrive whole, from the driver and from inside a task alike; a value
// whose save() throws, on either encoding pass, fails remote() with SerializationError and
// leaves no block behind; a submit that finds the store full waits as before.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <shmray/shmray.hpp>

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "api/gate.hpp"
#include "support/leak_check.hpp"

using namespace std::chrono_literals;

namespace {

const shmray::Options kOpts{.num_workers = 2, .object_store_bytes = 96 << 20, .quiet = true};
constexpr std::size_t kLen = std::size_t{30} << 17;  // 3,932,160 doubles: 30 MiB

std::vector<double> pattern(std::size_t n) {
  std::vector<double> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = double(i % 1000) * 0.5 + double(i / 1000);
  return v;
}

/// Order-sensitive: a swapped, shifted or truncated array gives another value.
double checksum(const std::vector<double>& v) {
  double s = 0;
  for (std::size_t i = 0; i < v.size(); ++i) s += v[i] * double(i % 7 + 1);
  return s + double(v.size());
}

double checksum_of(std::vector<double> v) { return checksum(v); }
SHMRAY_REMOTE(checksum_of);

/// A big value with a second argument after it: the one after must not be overwritten.
double checksum_and(std::vector<double> v, int tail) { return checksum(v) * 2 + tail; }
SHMRAY_REMOTE(checksum_and);

/// Ends its process on the first attempt (the marker does not exist yet: it makes it), then
/// returns the checksum: the retry reads the argument again from the task's block.
double crash_once_then_checksum(std::vector<double> v, std::string marker) {
  if (::access(marker.c_str(), F_OK) != 0) {
    ::close(::open(marker.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
    ::_exit(3);
  }
  return checksum(v);
}
SHMRAY_REMOTE(crash_once_then_checksum);

int wait_then_one(std::string gate) {
  shmray_test::wait_for_gate(gate);
  return 1;
}
SHMRAY_REMOTE(wait_then_one);

/// Submits checksum_of(pattern(n)) from inside a task.
double nested_checksum(std::size_t n) { return shmray::get(shmray::task(checksum_of).remote(pattern(n))); }
SHMRAY_REMOTE(nested_checksum);

/// A value of `bytes` bytes whose save() throws on its call number `throw_at` (1: the first
/// encoding pass, 2: the second); 0 never throws.
struct Flaky {
  std::vector<char> bytes;
  int throw_at = 0;
  mutable int calls = 0;
  template <class Archive>
  void save(Archive& ar) const {
    if (++calls == throw_at) throw std::runtime_error("flaky save");
    ar(bytes);
  }
  template <class Archive>
  void load(Archive& ar) {
    ar(bytes);
  }
};

std::size_t size_of_flaky(Flaky f) { return f.bytes.size(); }
SHMRAY_REMOTE(size_of_flaky);

/// From inside a task: a Flaky of `bytes` throwing at `throw_at`; 1 when remote() threw
/// SerializationError, 0 when it went through.
int nested_flaky(std::size_t bytes, int throw_at) {
  try {
    Flaky f{std::vector<char>(bytes, 'x'), throw_at};
    return shmray::get(shmray::task(size_of_flaky).remote(f)) == bytes ? 0 : 2;
  } catch (const shmray::SerializationError&) {
    return 1;
  }
}
SHMRAY_REMOTE(nested_flaky);

struct Baseline {
  std::size_t objects, reserved;
};
Baseline now() {
  const shmray::StoreStats s = shmray::store_stats();
  return {s.objects, s.reserved_bytes};
}
/// The figures once the warm-up's objects (freed as the driver handles their completions)
/// are gone: no object is alive at the baselines of these cases.
Baseline settled() {
  CHECK(shmray_test::eventually([] { return now().objects == 0; }, 20s));
  return now();
}
/// The store holds what it held at `b` again (the driver frees finished tasks' blocks as it
/// handles their completions, after get() returned).
bool back_to(const Baseline& b) {
  const bool ok = shmray_test::eventually(
      [&] {
        const Baseline n = now();
        return n.objects == b.objects && n.reserved <= b.reserved;
      },
      20s);
  if (!ok)
    MESSAGE("objects ", now().objects, " (was ", b.objects, "), reserved ", now().reserved, " (was ", b.reserved, ")");
  return ok;
}

}  // namespace

TEST_CASE("BigArgs.LargeVectorArrivesIntactAndLeavesNothing" * doctest::timeout(120)) {
  shmray::test::NoLeaks guard;
  shmray::init(kOpts);
  const std::vector<double> v = pattern(kLen);
  const double want = checksum(v);
  CHECK(shmray::get(shmray::task(checksum_of).remote(pattern(16))) == checksum(pattern(16)));  // warm
  const Baseline b = settled();
  for (int i = 0; i < 4; ++i) {  // 4 x 30 MiB through a 96 MiB store: a leaked block would fill it
    CHECK(shmray::get(shmray::task(checksum_of).remote(v), 60s) == want);
    CHECK(shmray::get(shmray::task(checksum_and).remote(v, 7), 60s) == want * 2 + 7);
  }
  CHECK(back_to(b));
  // Sizes around the point where arguments start to go straight into the store.
  for (std::size_t n :
       {std::size_t{8190}, std::size_t{8191}, std::size_t{8192}, std::size_t{8193}, std::size_t{70000}}) {
    CAPTURE(n);
    CHECK(shmray::get(shmray::task(checksum_of).remote(pattern(n)), 60s) == checksum(pattern(n)));
  }
}

TEST_CASE("BigArgs.ThrowingSaveFailsTheSubmitAndLeavesNoBlock" * doctest::timeout(120)) {
  shmray::test::NoLeaks guard;
  shmray::init(kOpts);
  CHECK(shmray::get(shmray::task(size_of_flaky).remote(Flaky{{'a'}, 0})) == 1);  // warm
  const Baseline b = settled();
  for (int at : {1, 2}) {
    CAPTURE(at);
    for (int i = 0; i < 4; ++i) {
      Flaky f{std::vector<char>(30 << 20, 'x'), at};
      CHECK_THROWS_AS(shmray::task(size_of_flaky).remote(f), shmray::SerializationError);
    }
    CHECK(back_to(b));
  }
  // The store still has room for what the failed submits would have taken.
  Flaky ok{std::vector<char>(60 << 20, 'y'), 0};
  CHECK(shmray::get(shmray::task(size_of_flaky).remote(ok), 60s) == ok.bytes.size());
  CHECK(back_to(b));
}

TEST_CASE("BigArgs.NestedSubmitOfALargeValue" * doctest::timeout(120)) {
  shmray::test::NoLeaks guard;
  shmray::init(kOpts);
  CHECK(shmray::get(shmray::task(nested_checksum).remote(std::size_t{16}), 60s) == checksum(pattern(16)));
  const Baseline b = settled();
  for (int i = 0; i < 3; ++i)
    CHECK(shmray::get(shmray::task(nested_checksum).remote(kLen), 60s) == checksum(pattern(kLen)));
  CHECK(back_to(b));
  // A save() that throws inside a task: SerializationError there, and no block kept.
  for (int at : {1, 2}) {
    CAPTURE(at);
    for (int i = 0; i < 4; ++i)
      CHECK(shmray::get(shmray::task(nested_flaky).remote(std::size_t{30} << 20, at), 60s) == 1);
  }
  CHECK(shmray::get(shmray::task(nested_flaky).remote(std::size_t{30} << 20, 0), 60s) == 0);
  CHECK(back_to(b));
}

TEST_CASE("BigArgs.SubmitIntoAFullStoreWaitsForRoom" * doctest::timeout(120)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 2, .object_store_bytes = 64 << 20, .quiet = true});
  const std::vector<double> v = pattern(kLen);
  const double want = checksum(v);
  const Baseline b = settled();
  shmray_test::Gate gate;
  auto running = shmray::task(wait_then_one).remote(gate.path());
  auto hog = shmray::put(std::vector<char>(48 << 20, 'h'));  // leaves less than 30 MiB
  // As before: the driver's submit returns at once and the task waits for room (in the
  // backlog, retried when a task finishes: the gated one here).
  auto r = shmray::task(checksum_of).remote(v);
  CHECK(shmray::wait(std::vector{r}, {.timeout = 200ms}).ready.empty());
  hog = {};
  gate.open();
  CHECK(shmray::get(running, 60s) == 1);
  CHECK(shmray::get(r, 60s) == want);
  r = {};
  running = {};
  CHECK(back_to(b));
}

TEST_CASE("BigArgs.ASubmitWaitingForRoomRunsWhenAPutIsDropped" * doctest::timeout(120)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 2, .object_store_bytes = 64 << 20, .quiet = true});
  const std::vector<double> v = pattern(kLen);
  const double want = checksum(v);
  auto hog = shmray::put(std::vector<char>(48 << 20, 'h'));  // leaves less than 30 MiB
  auto r = shmray::task(checksum_of).remote(v);              // waits in the backlog for room
  CHECK(shmray::wait(std::vector{r}, {.timeout = 200ms}).ready.empty());
  // No task runs, so no task's end retries the backlog: dropping the put must (it hung).
  hog = {};
  CHECK(shmray::get(r, 60s) == want);
}

TEST_CASE("BigArgs.ARetryReadsTheArgumentAgain" * doctest::timeout(120)) {
  shmray::test::NoLeaks guard;
  shmray::init(kOpts);
  const std::vector<double> v = pattern(kLen);
  const Baseline b = settled();
  shmray_test::Gate marker;
  CHECK(shmray::get(shmray::task(crash_once_then_checksum).remote(v, marker.path()), 60s) == checksum(v));
  CHECK(back_to(b));
}
