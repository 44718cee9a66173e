// validate_header, the check a worker runs on the segment it attaches to. The segment is
// made with Segment::create (an anonymous mapping; no process is started) and its header
// then spoiled one field at a time.
#include <doctest/doctest.h>

#include <cstddef>
#include <cstring>
#include <set>
#include <span>
#include <string>

#include "shm/layout.hpp"
#include "shm/segment.hpp"

using namespace shmray::shm;

namespace {
SegmentParams small_params() {
  SegmentParams p;
  p.num_workers = 1;
  p.max_workers = 2;
  p.task_capacity = 16;
  p.object_capacity = 16;
  p.arena_bytes = 2 * kSpanBytes;
  p.event_ring_bytes = 4096;
  p.control_ring_entries = 16;
  return p;
}

struct Made {
  Segment seg = *Segment::create(small_params());
  std::span<const std::byte> mapping() const { return {seg.base(), seg.size()}; }
  AttachError check() const { return validate_header(mapping()); }
};
}  // namespace

TEST_CASE("Header.GoodHeaderAccepted" * doctest::timeout(10)) {
  Made m;
  CHECK(m.seg.geometry().total_bytes <= m.seg.size());
  CHECK(m.check() == AttachError::kNone);
  CHECK(std::memcmp(&m.seg.header(), &m.seg.geometry(), sizeof(SegmentHeader)) == 0);
}

TEST_CASE("Header.SpoiledHeaderRefused" * doctest::timeout(10)) {
  Made m;
  SegmentHeader& h = m.seg.header();
  SUBCASE("too small") {
    CHECK(validate_header(m.mapping().first(sizeof(SegmentHeader) - 1)) == AttachError::kTooSmall);
  }
  SUBCASE("empty") { CHECK(validate_header({}) == AttachError::kTooSmall); }
  SUBCASE("wrong magic") {
    h.magic ^= 1;
    CHECK(m.check() == AttachError::kBadMagic);
  }
  SUBCASE("wrong version") {
    h.layout_version = kLayoutVersion + 1;
    CHECK(m.check() == AttachError::kBadVersion);
  }
  SUBCASE("older version") {
    h.layout_version = kLayoutVersion - 1;
    CHECK(m.check() == AttachError::kBadVersion);
  }
  SUBCASE("wrong header size") {
    h.header_bytes = sizeof(SegmentHeader) - 8;
    CHECK(m.check() == AttachError::kBadVersion);
  }
  SUBCASE("mapping shorter than the header says") {
    CHECK(validate_header(m.mapping().first(h.total_bytes - 1)) == AttachError::kBadGeometry);
  }
  SUBCASE("region moved") {
    h.tasks_off += kCacheLine;
    CHECK(m.check() == AttachError::kBadGeometry);
  }
  SUBCASE("arena past the mapping") {
    h.arena_off += kSpanBytes;
    CHECK(m.check() == AttachError::kBadGeometry);
  }
  SUBCASE("more spans than the arena") {
    h.span_count += 1;  // the recomputed layout no longer matches
    CHECK(m.check() == AttachError::kBadGeometry);
  }
  SUBCASE("zero workers") {
    h.num_workers = 0;
    CHECK(m.check() == AttachError::kBadGeometry);
  }
  SUBCASE("more CPU slots than worker slots") {
    h.num_workers = h.max_workers + 1;
    CHECK(m.check() == AttachError::kBadGeometry);
  }
  SUBCASE("no pool slots") {  // 0 means "all" only to create(); a header always says how many
    h.pool_slots = 0;
    CHECK(m.check() == AttachError::kBadGeometry);
  }
  SUBCASE("fewer pool slots than CPU slots") {
    h.pool_slots = h.num_workers - 1;
    CHECK(m.check() == AttachError::kBadGeometry);
  }
  SUBCASE("ring size not a power of two") {
    h.event_ring_bytes = 4096 + 8;
    CHECK(m.check() == AttachError::kBadGeometry);
  }
  SUBCASE("huge capacity") {
    h.task_capacity = 0xffffffffu;
    CHECK(m.check() == AttachError::kBadGeometry);
  }
  SUBCASE("dispatch capacity changed") {
    h.dispatch_capacity *= 2;
    CHECK(m.check() == AttachError::kBadGeometry);
  }
}

TEST_CASE("Header.ErrorsHaveNames" * doctest::timeout(10)) {
  std::set<std::string> names;
  for (auto e : {AttachError::kNone, AttachError::kTooSmall, AttachError::kBadMagic, AttachError::kBadVersion,
                 AttachError::kBadGeometry})
    CHECK(names.insert(to_string(e)).second);
}

TEST_CASE("Header.TimelineRegionChecked" * doctest::timeout(10)) {
  SegmentParams p = small_params();
  p.timeline_entries = 1024;
  auto seg = Segment::create(p);
  REQUIRE(seg);
  const SegmentHeader& g = seg->geometry();
  CHECK(g.timeline_entries == 1024);
  CHECK(g.timeline_off % kPage == 0);
  CHECK(g.timeline_off + Segment::timeline_ring_bytes(1024) * g.max_workers <= g.arena_off);
  CHECK(seg->timeline_ring(1) != nullptr);
  std::span<const std::byte> mapping{seg->base(), seg->size()};
  CHECK(validate_header(mapping) == AttachError::kNone);
  seg->header().timeline_off += kPage;  // a region moved elsewhere
  CHECK(validate_header(mapping) == AttachError::kBadGeometry);
  seg->header().timeline_off -= kPage;
  seg->header().timeline_entries = 1000;  // not a power of two
  CHECK(validate_header(mapping) == AttachError::kBadGeometry);
  // Off: no region, no rings.
  Made m;
  CHECK(m.seg.geometry().timeline_off == 0);
  CHECK(m.seg.timeline_ring(0) == nullptr);
  p.timeline_entries = 3;
  CHECK_FALSE(Segment::create(p));
}

TEST_CASE("Header.CompletionRegionChecked" * doctest::timeout(10)) {
  Made m;
  const SegmentHeader& g = m.seg.geometry();
  CHECK(g.completions_off % kPage == 0);
  CHECK(g.completions_off >= g.idle_off);
  CHECK(g.completions_off + Segment::completions_bytes() <= g.dispatch_off);
  CHECK(reinterpret_cast<std::byte*>(&m.seg.completion_ring()) == m.seg.base() + g.completions_off);
  m.seg.header().completions_off += kPage;  // a region moved elsewhere
  CHECK(m.check() == AttachError::kBadGeometry);
  m.seg.header().completions_off -= kPage;
  CHECK(m.check() == AttachError::kNone);
}
