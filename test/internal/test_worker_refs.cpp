// Ids a worker sends (the resolve and contained lists of a task it submitted, a put's
// contained refs) are untrusted: ObjectTable::pin_worker_refs_locked is where they enter the
// driver's state, and it must keep only ids that name live objects. A forged index past the
// table once reached watch_deps_locked, which indexed the object table with it.
#include <doctest/doctest.h>

#include <cstdint>
#include <vector>

#include "common/views.hpp"
#include "driver/object_table.hpp"
#include "shm/layout.hpp"
#include "shm/segment.hpp"

using namespace shmray;
using shmray::detail::ObjectId;

namespace {
shm::SegmentParams small_params() {
  shm::SegmentParams p;
  p.num_workers = 1;
  p.max_workers = 2;
  p.task_capacity = 16;
  p.object_capacity = 16;
  p.arena_bytes = 2 * shm::kSpanBytes;
  p.event_ring_bytes = 4096;
  p.control_ring_entries = 16;
  return p;
}

struct Table {
  shm::Segment seg = *shm::Segment::create(small_params());
  common::Views v{seg};
  driver::ObjectTable objects{v, v.session};
};
}  // namespace

TEST_CASE("WorkerRefs.ForgedIdsArePinnedNever" * doctest::timeout(10)) {
  Table t;
  const ObjectId live = t.objects.allocate_object_locked();
  const ObjectId past_table = ObjectId::make(t.v.session, live.gen(), t.v.object_capacity + 1000);
  const ObjectId last_index = ObjectId::make(t.v.session, live.gen(), 0xffffffffu);
  const ObjectId wrong_gen = ObjectId::make(t.v.session, live.gen() + 1, live.index());
  const ObjectId other_session = ObjectId::make(t.v.session + 1, live.gen(), live.index());
  const ObjectId never_allocated = ObjectId::make(t.v.session, live.gen(), live.index() + 1);
  const std::vector<ObjectId> ids = {past_table, live, last_index, wrong_gen, other_session, never_allocated};

  std::vector<ObjectId> pins;
  CHECK(t.objects.pin_worker_refs_locked(1234, ids, pins) == 1);
  REQUIRE(pins.size() == 1);
  CHECK(pins[0] == live);
  CHECK(shm::load_acquire(t.v.objects[live.index()].refs) == 2);  // its own plus the pin
  CHECK(t.objects.drop_ref(live) == false);
  CHECK(t.objects.drop_ref(live) == true);
}

TEST_CASE("WorkerRefs.AppendsAfterEarlierPins" * doctest::timeout(10)) {
  Table t;
  const ObjectId a = t.objects.allocate_object_locked();
  const ObjectId b = t.objects.allocate_object_locked();
  std::vector<ObjectId> pins;
  const std::vector<ObjectId> resolve = {a, ObjectId::make(t.v.session, 0, t.v.object_capacity)};
  const std::vector<ObjectId> contained = {b};
  const std::size_t deps = t.objects.pin_worker_refs_locked(1, resolve, pins);
  CHECK(t.objects.pin_worker_refs_locked(1, contained, pins) == 1);
  CHECK(deps == 1);  // the first `deps` pins are the watched resolve ids
  CHECK(pins == std::vector<ObjectId>{a, b});
}
