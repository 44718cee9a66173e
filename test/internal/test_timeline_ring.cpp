// The timeline ring over plain memory (shm/timeline_ring.hpp): order, a full ring drops and
// counts (never overwrites), the worker sees the driver's head only when it looks full, a
// tail the worker scribbled is clamped, and a new writer continues after the last one.
#include <doctest/doctest.h>

#include <cstdint>
#include <vector>

#include "shm/segment.hpp"
#include "shm/timeline_ring.hpp"

using namespace shmray::shm;

namespace {
constexpr std::uint32_t kEntries = 8;
struct Mem {
  std::vector<std::uint64_t> words = std::vector<std::uint64_t>(Segment::timeline_ring_bytes(kEntries) / 8 + 8);
  TimelineRing* ring() {
    auto p = reinterpret_cast<std::uintptr_t>(words.data());
    return reinterpret_cast<TimelineRing*>((p + 63) / 64 * 64);
  }
};
std::vector<std::uint64_t> drain(TimelineRing& r, std::uint64_t* lost = nullptr) {
  std::vector<std::uint64_t> refs;
  const std::uint64_t l = drain_timeline(r, kEntries, [&](const TimelineRecord& rec) { refs.push_back(rec.task_ref); });
  if (lost) *lost = l;
  return refs;
}
}  // namespace

TEST_CASE("TimelineRing.OrderFullDropsAndWrap" * doctest::timeout(10)) {
  Mem m;
  TimelineWriter w(m.ring(), kEntries);
  REQUIRE(w.on());
  CHECK_FALSE(TimelineWriter().on());
  CHECK_FALSE(timeline_pending(*m.ring()));
  for (std::uint64_t i = 1; i <= kEntries + 3; ++i) w.append(i, 100 * i, TimelineKind::kStart, 1);
  CHECK(m.ring()->dropped == 3);  // the new ones went, the old ones stayed
  CHECK(timeline_pending(*m.ring()));
  const auto first = drain(*m.ring());
  REQUIRE(first.size() == kEntries);
  for (std::uint32_t i = 0; i < kEntries; ++i) CHECK(first[i] == i + 1);
  // Many laps: the worker reads the moved head once it looks full, and keeps the order.
  std::uint64_t next = 100, expect = 100;
  for (int lap = 0; lap < 50; ++lap) {
    for (std::uint32_t i = 0; i < kEntries; ++i) w.append(next++, 0, TimelineKind::kEnd, 0);
    for (std::uint64_t got : drain(*m.ring())) CHECK(got == expect++);
  }
  CHECK(expect == next);
  CHECK(m.ring()->dropped == 3);
}

TEST_CASE("TimelineRing.ScribbledTailIsClampedAndANewWriterContinues" * doctest::timeout(10)) {
  Mem m;
  TimelineRing& r = *m.ring();
  {
    TimelineWriter w(&r, kEntries);
    for (std::uint64_t i = 1; i <= 3; ++i) w.append(i, 0, TimelineKind::kStart, 1);
  }
  // The next process of the slot goes on after the records the last one left.
  TimelineWriter again(&r, kEntries);
  again.append(4, 0, TimelineKind::kStart, 1);
  CHECK(drain(r) == std::vector<std::uint64_t>{1, 2, 3, 4});
  // A tail far ahead of head (a task wrote there): only the last ring's worth is read.
  r.tail = r.head + 10 * kEntries;
  std::uint64_t lost = 0;
  CHECK(drain(r, &lost).size() == kEntries);
  CHECK(lost == 9 * kEntries);
  CHECK(r.head == r.tail);
  // A tail behind head: as far ahead, modulo 2^64; read as a ring's worth, never more.
  r.tail = r.head - 1;
  CHECK(drain(r).size() == kEntries);
}
