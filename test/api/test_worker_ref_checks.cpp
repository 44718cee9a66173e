// A task's API calls refuse a ref that names no live object (a freed object's stale id, the
// current generation of a free slot, another session's id) exactly as the driver's do:
// std::invalid_argument "names no live object", before anything is submitted or stored.
// Such a ref can only be made through the internal ObjectRef::adopt, which trusts its id.
#include <doctest/doctest.h>

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

using IntRef = shmray::ObjectRef<int>;
using shmray::detail::ObjectId;

int plus(int a, int b) { return a + b; }
SHMRAY_REMOTE(plus);

std::string hex_of(IntRef r) { return r.hex(); }
SHMRAY_REMOTE(hex_of);

/// "rejected" when `call` throws std::invalid_argument naming no live object, else what it did.
template <class F>
std::string outcome(F&& call) {
  try {
    call();
    return "accepted";
  } catch (const std::invalid_argument& e) {
    const std::string what = e.what();
    return what.find("names no live object") != std::string::npos ? std::string("rejected") : "other message: " + what;
  } catch (const std::exception& e) {
    return std::string("wrong error: ") + e.what();
  }
}

/// Each way a forged ref reaches the runtime: as a resolved argument, as a ref inside the
/// arguments, and as a ref inside a put value. One outcome per (raw id, way).
std::vector<std::string> forged_calls(std::vector<std::uint64_t> raws) {
  std::vector<std::string> out;
  for (std::uint64_t raw : raws) {
    const IntRef forged = IntRef::adopt(ObjectId{raw});
    out.push_back(outcome([&] { (void)shmray::task(plus).remote(forged, 1); }));
    out.push_back(outcome([&] { (void)shmray::task(hex_of).remote(forged); }));
    out.push_back(outcome([&] { (void)shmray::put(std::vector<IntRef>{forged}); }));
  }
  return out;
}
SHMRAY_REMOTE(forged_calls);

}  // namespace

TEST_CASE("WorkerRefChecks.TaskCallsRefuseRefsToFreedOrForeignObjects" * doctest::timeout(120)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 1, .object_store_bytes = 64 << 20, .quiet = true, .max_workers = 1});
  const std::size_t base = shmray::store_stats().objects;
  std::vector<ObjectId> freed;
  {
    std::vector<IntRef> doomed;
    for (int i = 0; i < 1000; ++i) doomed.push_back(shmray::put(i));
    for (const IntRef& r : doomed) freed.push_back(r.id());
  }  // freed, oldest first: the oldest lie deepest in the free list and are not reused here
  IntRef live = shmray::put(7);
  REQUIRE(shmray_test::eventually([&] { return shmray::store_stats().objects == base + 1; }));

  std::vector<std::uint64_t> raws;
  for (std::size_t i = 0; i < 5; ++i) {
    const ObjectId f = freed[i];
    raws.push_back(f.value);                                                    // stale
    raws.push_back(ObjectId::make(f.session(), f.gen() + 1, f.index()).value);  // the free slot's generation now
  }
  raws.push_back(ObjectId::make(live.id().session() + 1, live.id().gen(), live.id().index()).value);  // another session
  raws.push_back(
      ObjectId::make(live.id().session(), live.id().gen() + 1, live.id().index()).value);  // wrong generation

  const std::vector<std::string> outcomes = shmray::get(shmray::task(forged_calls).remote(raws), 60s);
  REQUIRE(outcomes.size() == 3 * raws.size());
  int bad = 0;
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    if (outcomes[i] == "rejected") continue;
    if (++bad <= 6) MESSAGE("in a task, " << ObjectId{raws[i / 3]}.hex() << " way " << i % 3 << ": " << outcomes[i]);
  }
  CHECK(bad == 0);
  // The driver refuses the same calls.
  CHECK(forged_calls(raws) == std::vector<std::string>(outcomes.size(), "rejected"));

  // Nothing was counted on the forged ids: the live object keeps its value and the store
  // goes back to its base.
  CHECK(shmray::get(shmray::task(plus).remote(live, 1), 30s) == 8);
  live = IntRef();
  CHECK(shmray_test::eventually([&] { return shmray::store_stats().objects == base; }, 20s));
}
