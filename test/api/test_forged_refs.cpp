// Forged or garbage ObjectRefs decoded from bytes are refused the same way in a task as in
// the driver (std::invalid_argument: "names no live object"), and leave every reference
// count as it was: afterwards every object reads back its own value.
#include <doctest/doctest.h>

#include <shmray/shmray.hpp>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "api/gate.hpp"
#include "support/leak_check.hpp"

using namespace std::chrono_literals;

namespace {

using IntRef = shmray::ObjectRef<int>;
using shmray::detail::ObjectId;

/// Decodes an ObjectRef<int> from the 8 raw bytes of `raw`, as a task would from a record.
std::string try_decode(std::uint64_t raw) {
  std::byte bytes[8];
  std::memcpy(bytes, &raw, 8);
  try {
    IntRef r = shmray::detail::decode_value<IntRef>(std::span<const std::byte>(bytes, 8));
    return "accepted " + r.hex();
  } catch (const std::invalid_argument& e) {
    const std::string what = e.what();
    return what.find("names no live object") != std::string::npos ? std::string("rejected") : "other message: " + what;
  } catch (const std::exception& e) {
    return std::string("wrong error: ") + e.what();
  }
}

/// Inside a task: decodes every forged value; returns one outcome each.
std::vector<std::string> decode_all(std::vector<std::uint64_t> raws) {
  std::vector<std::string> out;
  for (std::uint64_t raw : raws) out.push_back(try_decode(raw));
  return out;
}
SHMRAY_REMOTE(decode_all);

int plus(int a, int b) { return a + b; }
SHMRAY_REMOTE(plus);

/// Forged values: random bits, random bits with this session's byte, stale refs of freed
/// objects, live refs with a wrong generation, and the current generation of free slots.
std::vector<std::uint64_t> forgeries(const std::vector<ObjectId>& freed, const std::vector<ObjectId>& live) {
  std::mt19937_64 rng(12345);
  std::vector<std::uint64_t> out;
  const std::uint32_t session = live.front().session();
  for (int i = 0; i < 200; ++i) out.push_back(rng() | 1);
  for (int i = 0; i < 200; ++i) {
    const std::uint64_t r = rng();
    out.push_back(ObjectId::make(session, std::uint32_t(r >> 32), std::uint32_t(r) % 300000).value);
  }
  // The oldest frees lie deepest in the free list: nothing the test does meanwhile reuses them.
  for (std::size_t i = 0; i < 100; ++i) {
    const ObjectId f = freed[i];
    out.push_back(f.value);                                                // stale
    out.push_back(ObjectId::make(session, f.gen() + 1, f.index()).value);  // the free slot's generation now
    out.push_back(ObjectId::make(session, f.gen() + 2, f.index()).value);
  }
  for (std::size_t i = 0; i < 100; ++i) {
    const ObjectId l = live[i];
    out.push_back(ObjectId::make(session, l.gen() + 1, l.index()).value);  // right index, wrong generation
    out.push_back(ObjectId::make(session, l.gen() - 1, l.index()).value);
    out.push_back(ObjectId::make(session + 1, l.gen(), l.index()).value);  // another session
  }
  return out;
}

/// 40,000 put/get pairs, all alive at once, each read back.
int wrong_reads(int n) {
  std::vector<IntRef> refs;
  refs.reserve(std::size_t(n));
  for (int i = 0; i < n; ++i) refs.push_back(shmray::put(i * 7 + 1));
  int wrong = 0;
  for (int i = 0; i < n; ++i) wrong += shmray::get(refs[std::size_t(i)]) != i * 7 + 1;
  return wrong;
}
SHMRAY_REMOTE(wrong_reads);

}  // namespace

TEST_CASE("ForgedRefs.DecodedInATaskAreRejectedAndCountsStayRight" * doctest::timeout(180)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 1, .object_store_bytes = 64 << 20, .quiet = true, .max_workers = 1});
  const std::size_t base = shmray::store_stats().objects;
  std::vector<ObjectId> freed, live_ids;
  {
    std::vector<IntRef> doomed;
    for (int i = 0; i < 2000; ++i) doomed.push_back(shmray::put(i));
    for (const IntRef& r : doomed) freed.push_back(r.id());
  }  // freed, oldest first
  std::vector<IntRef> live;
  for (int i = 0; i < 200; ++i) live.push_back(shmray::put(1000 + i));
  for (const IntRef& r : live) live_ids.push_back(r.id());
  REQUIRE(shmray_test::eventually([&] { return shmray::store_stats().objects == base + live.size(); }));

  const std::vector<std::uint64_t> raws = forgeries(freed, live_ids);
  const std::vector<std::string> outcomes = shmray::get(shmray::task(decode_all).remote(raws), 60s);
  REQUIRE(outcomes.size() == raws.size());
  int bad = 0;
  for (std::size_t i = 0; i < raws.size(); ++i) {
    if (outcomes[i] == "rejected") continue;
    if (++bad <= 5) MESSAGE("forged " << ObjectId{raws[i]}.hex() << ": " << outcomes[i]);
  }
  CHECK(bad == 0);
  // The driver refuses the same values.
  int driver_bad = 0;
  for (std::uint64_t raw : raws) driver_bad += try_decode(raw) != "rejected";
  CHECK(driver_bad == 0);

  // Counts are intact: the live objects keep their values, and a workload that reuses every
  // freed slot reads back right values only, in a task and in the driver.
  for (int i = 0; i < 200; ++i) CHECK(shmray::get(live[std::size_t(i)]) == 1000 + i);
  CHECK(shmray::get(shmray::task(wrong_reads).remote(40'000), 120s) == 0);
  {
    std::vector<IntRef> refs;
    for (int i = 0; i < 40'000; ++i) refs.push_back(shmray::put(i * 3 + 2));
    int wrong = 0;
    for (int i = 0; i < 40'000; ++i) wrong += shmray::get(refs[std::size_t(i)]) != i * 3 + 2;
    CHECK(wrong == 0);
    CHECK(shmray::get(shmray::task(plus).remote(refs[7], refs[9]), 30s) == 7 * 3 + 2 + 9 * 3 + 2);
  }
  live.clear();
  CHECK(shmray_test::eventually([&] { return shmray::store_stats().objects == base; }, 20s));
  CHECK(shmray::store_stats().objects == base);
}
