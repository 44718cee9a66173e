// common::write_payload claims an object (kPending -> writing) before it finds room for the
// payload. Whatever the allocator does then, the object must end published: a claimed
// object left unpublished in a live process hangs everyone who waits on it.
#include <doctest/doctest.h>

#include <new>
#include <span>
#include <string>
#include <vector>

#include "common/payload_write.hpp"
#include "common/views.hpp"
#include "driver/object_table.hpp"
#include "shm/completion_ring.hpp"
#include "shm/layout.hpp"
#include "shm/segment.hpp"
#include "wire/error_record.hpp"

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

TEST_CASE("PayloadWrite.AThrowingAllocatorStillPublishes" * doctest::timeout(10)) {
  Table t;
  const std::string big(4 * shm::kInlineBytes, 'x');
  const auto bytes = std::as_bytes(std::span(big.data(), big.size()));
  const auto throws = [](std::size_t, bool) -> std::uint64_t { throw std::bad_alloc(); };

  SUBCASE("a value") {
    const ObjectId id = t.objects.allocate_object_locked();
    CHECK_NOTHROW(common::write_payload(t.v, id, shm::ObjectState::kReady, bytes, throws));
    CHECK(t.v.word(t.v.objects[id.index()]).is(shm::ObjectState::kReady));
  }
  SUBCASE("an error record") {
    wire::ErrorRecord e;
    e.type_name = "std::runtime_error";
    e.message = std::string(4 * shm::kInlineBytes, 'm');
    const std::string rec = wire::encode(e);
    const ObjectId id = t.objects.allocate_object_locked();
    CHECK_NOTHROW(common::write_payload(t.v, id, shm::ObjectState::kFailed,
                                        std::as_bytes(std::span(rec.data(), rec.size())), throws));
    CHECK(t.v.word(t.v.objects[id.index()]).is(shm::ObjectState::kFailed));
  }
}

// The writer's hook of as_completed: a published object is noted in the completion ring (its
// generation and slot index) while someone watches, and costs nothing there otherwise.
TEST_CASE("PayloadWrite.NotesCompletionsOnlyWhileWatched" * doctest::timeout(10)) {
  Table t;
  const std::string small(8, 'x');
  const auto bytes = std::as_bytes(std::span(small.data(), small.size()));
  const auto none = [](std::size_t, bool) -> std::uint64_t { return 0; };
  shm::CompletionRing& ring = *t.v.completions;
  const ObjectId quiet = t.objects.allocate_object_locked();
  REQUIRE(common::write_payload(t.v, quiet, shm::ObjectState::kReady, bytes, none));
  CHECK(shm::completion_count(ring) == 0);  // nobody watches: no entry

  shm::watch_completions(ring);
  std::uint64_t cursor = shm::completion_count(ring);
  const ObjectId a = t.objects.allocate_object_locked(), b = t.objects.allocate_object_locked();
  REQUIRE(common::write_payload(t.v, b, shm::ObjectState::kFailed, bytes, none));
  REQUIRE(common::write_payload(t.v, a, shm::ObjectState::kReady, bytes, none));
  CHECK_FALSE(common::write_payload(t.v, a, shm::ObjectState::kReady, bytes, none));  // final: no second entry
  std::vector<ObjectId> seen;
  REQUIRE(shm::read_completions(ring, t.v.completion_entries, cursor, [&](std::uint32_t gen, std::uint32_t index) {
    seen.push_back(ObjectId::make(t.v.session, gen, index));
  }));
  CHECK(seen == std::vector<ObjectId>{b, a});
  shm::unwatch_completions(ring);
  const ObjectId c = t.objects.allocate_object_locked();
  REQUIRE(common::write_payload(t.v, c, shm::ObjectState::kReady, bytes, none));
  CHECK(shm::completion_count(ring) == 2);
}
