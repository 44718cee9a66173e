// The per-process heap over a span table, backed by a plain vector of span words: the heap
// only computes arena offsets, so no arena memory (and no segment) is needed.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <set>
#include <vector>

#include "shm/heap.hpp"
#include "shm/spans.hpp"

using namespace shmray::shm;

namespace {
constexpr std::uint64_t kArenaOff = 2u << 20;  // nonzero: 0 means "no space"

struct Table {
  explicit Table(std::uint32_t spans) : words(spans, 0) {}
  SpanTable table() { return {words.data(), static_cast<std::uint32_t>(words.size()), kArenaOff}; }
  std::vector<std::uint64_t> words;
};
}  // namespace

TEST_CASE("Heap.SizeClassBoundaries" * doctest::timeout(10)) {
  CHECK(size_class_of(1) == 0);
  CHECK(size_class_of(16) == 0);
  CHECK(size_class_of(17) == 1);
  CHECK(size_class_of(kMaxSmall) == kSizeClasses.size() - 1);
  for (std::size_t c = 0; c < kSizeClasses.size(); ++c)
    CHECK(kSizeClasses[size_class_of(kSizeClasses[c])] == kSizeClasses[c]);
}

TEST_CASE("Heap.AllocateFreeReuse" * doctest::timeout(10)) {
  Table t(4);
  Heap h(t.table(), 7);
  const std::uint64_t a = h.allocate(100);
  REQUIRE(a != 0);
  CHECK(a % 16 == 0);
  CHECK(h.block_size(a) >= 100);
  CHECK(h.spans().word(h.spans().span_of(a)).owner == 7);
  CHECK(h.spans().word(h.spans().span_of(a)).kind == SpanKind::kSmall);
  const std::uint64_t b = h.allocate(100);
  CHECK(b != a);
  CHECK((b > a ? b - a : a - b) >= h.block_size(a));
  h.free(a);
  CHECK(h.allocate(100) == a);  // a freed block is handed out again
  CHECK(h.spans().spans_in_use() == 1);
}

TEST_CASE("Heap.ZeroBytesGetsABlock" * doctest::timeout(10)) {
  Table t(1);
  Heap h(t.table(), 2);
  const std::uint64_t a = h.allocate(0);
  CHECK(a != 0);
  CHECK(h.block_size(a) == kSizeClasses[0]);
}

TEST_CASE("Heap.BlocksAreDistinctUntilSpanFull" * doctest::timeout(10)) {
  Table t(2);
  Heap h(t.table(), 3);
  const std::uint32_t per_span = kSpanBytes / 4096;
  std::set<std::uint64_t> seen;
  for (std::uint32_t i = 0; i < per_span; ++i) {
    const std::uint64_t o = h.allocate(4096);
    REQUIRE(o != 0);
    CHECK(seen.insert(o).second);
    CHECK(h.spans().span_of(o) == 0);
  }
  CHECK(h.spans().spans_in_use() == 1);
  const std::uint64_t next = h.allocate(4096);  // the first span is full: a second one is claimed
  CHECK(h.spans().span_of(next) == 1);
  CHECK(h.spans().spans_in_use() == 2);
}

TEST_CASE("Heap.FullArenaGivesZero" * doctest::timeout(10)) {
  Table t(2);
  Heap h(t.table(), 3);
  CHECK(h.allocate(3 * kSpanBytes) == 0);  // more spans than the arena has
  const std::uint64_t run = h.allocate(2 * kSpanBytes);
  REQUIRE(run != 0);
  CHECK(h.allocate(16) == 0);  // nothing left for a small span
  CHECK(h.free(run));
  CHECK(h.allocate(16) != 0);
}

TEST_CASE("Heap.LargeRunClaimAndRelease" * doctest::timeout(10)) {
  Table t(8);
  Heap h(t.table(), 4);
  const std::uint64_t big = h.allocate(2 * kSpanBytes + 1);  // needs 3 spans
  REQUIRE(big != 0);
  const std::uint32_t s = h.spans().span_of(big);
  CHECK(h.spans().word(s).kind == SpanKind::kLargeHead);
  CHECK(h.spans().word(s).run == 3);
  CHECK(h.spans().word(s + 1).kind == SpanKind::kLargeCont);
  CHECK(h.spans().word(s + 2).kind == SpanKind::kLargeCont);
  CHECK(h.block_size(big) == 3 * kSpanBytes);
  CHECK(h.spans().spans_in_use() == 3);
  CHECK(h.free(big));
  CHECK(h.spans().spans_in_use() == 0);
}

TEST_CASE("Heap.KeepsOneEmptySpanPerClass" * doctest::timeout(10)) {
  Table t(4);
  Heap h(t.table(), 5);
  std::vector<std::uint64_t> blocks;
  for (int i = 0; i < 4; ++i) blocks.push_back(h.allocate(kMaxSmall));  // two blocks per span: two spans
  CHECK(h.spans().spans_in_use() == 2);
  for (std::uint64_t b : blocks) h.free(b);
  CHECK(h.spans().spans_in_use() == 1);  // one empty span kept warm, the other given back
}

TEST_CASE("Heap.FreeOfForeignOffsetIsRefused" * doctest::timeout(10)) {
  Table t(4);
  Heap mine(t.table(), 2), other(t.table(), 3);
  const std::uint64_t theirs = other.allocate(64);
  REQUIRE(theirs != 0);
  CHECK_FALSE(mine.free(theirs));                      // a small block of a span this heap does not know
  CHECK_FALSE(mine.free(1));                           // below the arena
  CHECK_FALSE(mine.free(kArenaOff + 4 * kSpanBytes));  // past the arena
  CHECK(mine.block_size(1) == 0);
  CHECK(t.words[mine.spans().span_of(theirs)] != 0);  // untouched
}

TEST_CASE("Heap.AdoptKeepsLiveBlocksAndFreesTheRest" * doctest::timeout(10)) {
  Table t(16);
  constexpr std::uint16_t kDead = 9, kDriver = kOwnerDriver;
  std::uint64_t live_small, dead_small, other_class, live_large, dead_large;
  {
    Heap dead(t.table(), kDead);  // a worker that is killed: its private bookkeeping is lost
    live_small = dead.allocate(64);
    dead_small = dead.allocate(64);
    other_class = dead.allocate(1000);
    live_large = dead.allocate(2 * kSpanBytes);
    dead_large = dead.allocate(kSpanBytes);
    for (auto o : {live_small, dead_small, other_class, live_large, dead_large}) REQUIRE(o != 0);
  }
  const SpanTable view = t.table();
  REQUIRE(view.spans_in_use() == 5);
  Heap driver(t.table(), kDriver);
  driver.adopt_owner(kDead, {live_small, live_large});

  const std::uint32_t small_span = view.span_of(live_small);
  CHECK(view.word(small_span).owner == kDriver);
  CHECK(view.word(view.span_of(other_class)).kind == SpanKind::kFree);  // no live block in it
  CHECK(view.word(view.span_of(live_large)).owner == kDriver);
  CHECK(view.word(view.span_of(live_large) + 1).owner == kDriver);
  CHECK(view.word(view.span_of(dead_large)).kind == SpanKind::kFree);
  CHECK(view.spans_in_use() == 3);
  for (std::uint32_t s = 0; s < view.count(); ++s) CHECK(view.word(s).owner != kDead);

  // The adopted span hands out every block but the live one.
  const std::uint32_t capacity = kSpanBytes / 64;
  std::set<std::uint64_t> got;
  for (std::uint32_t i = 0; i + 1 < capacity; ++i) {
    const std::uint64_t o = driver.allocate(64);
    REQUIRE(view.span_of(o) == small_span);
    CHECK(o != live_small);
    got.insert(o);
  }
  CHECK(got.count(dead_small) == 1);                       // the dead block was freed
  CHECK(view.span_of(driver.allocate(64)) != small_span);  // now full
  // The adopter frees what it adopted like its own.
  driver.free(live_small);
  CHECK(driver.allocate(64) == live_small);
  CHECK(driver.free(live_large));
  CHECK(view.word(view.span_of(live_large)).kind == SpanKind::kFree);
}

TEST_CASE("Heap.AdoptReleasesHalfClaimedRuns" * doctest::timeout(10)) {
  Table t(8);
  constexpr std::uint16_t kDead = 4;
  // A claimer killed between CASes: head of a 3-span run, one continuation of 3 written.
  t.words[1] = SpanWord{kDead, SpanKind::kLargeHead, 0, 3}.pack();
  t.words[2] = SpanWord{kDead, SpanKind::kLargeCont, 0, 1}.pack();
  // A continuation whose head is gone.
  t.words[5] = SpanWord{kDead, SpanKind::kLargeCont, 0, 2}.pack();
  // Another owner's span is left alone.
  t.words[6] = SpanWord{3, SpanKind::kSmall, 0, 1}.pack();
  Heap driver(t.table(), kOwnerDriver);
  const SpanTable view = t.table();
  driver.adopt_owner(kDead, {view.offset_of(1)});  // even "live": the run never was whole
  CHECK(t.words[1] == 0);
  CHECK(t.words[2] == 0);
  CHECK(t.words[5] == 0);
  CHECK(view.word(6).owner == 3);
  CHECK(view.spans_in_use() == 1);
}

TEST_CASE("Spans.WordRoundTrip" * doctest::timeout(10)) {
  const SpanWord w{0xffff, SpanKind::kLargeCont, 0xff, 0xffffffffu};
  const SpanWord u = SpanWord::unpack(w.pack());
  CHECK(u.owner == 0xffff);
  CHECK(u.kind == SpanKind::kLargeCont);
  CHECK(u.size_class == 0xff);
  CHECK(u.run == 0xffffffffu);
  CHECK(SpanWord{}.pack() == 0);  // a free span is the zero word
}

TEST_CASE("Spans.ClaimRunSkipsUsedSpans" * doctest::timeout(10)) {
  Table t(6);
  SpanTable s = t.table();
  t.words[2] = SpanWord{3, SpanKind::kSmall, 0, 1}.pack();
  CHECK(s.claim_run(1, 0) == std::nullopt);
  CHECK(s.claim_run(1, 7) == std::nullopt);
  CHECK(s.claim_run(1, 3) == 3u);  // 0..1 is too short around the used span 2
  CHECK(s.claim_run(1, 2) == 0u);
  CHECK(s.claim_run(1, 1) == std::nullopt);
  CHECK(s.claim_small(1, 0) == std::nullopt);
  s.release_run(3);
  CHECK(s.word(3).kind == SpanKind::kFree);
  CHECK(s.word(5).kind == SpanKind::kFree);
  CHECK(s.claim_small(1, 2) == 3u);
}

TEST_CASE("Spans.ReleaseRunClampsScribbledLength" * doctest::timeout(10)) {
  Table t(4);
  SpanTable s = t.table();
  t.words[2] = SpanWord{1, SpanKind::kLargeHead, 0, 0xffffffffu}.pack();  // run reaching far past the table
  t.words[3] = SpanWord{1, SpanKind::kLargeCont, 0, 1}.pack();
  t.words[1] = SpanWord{1, SpanKind::kSmall, 0, 1}.pack();
  s.release_run(2);
  CHECK(t.words[2] == 0);
  CHECK(t.words[3] == 0);
  CHECK(t.words[1] != 0);  // before the head: untouched
  s.release_run(99);       // out of range: nothing
  CHECK(s.span_of(kArenaOff - 1) == s.count());
  CHECK(s.span_of(kArenaOff + 4 * kSpanBytes) == s.count());
}

// A block freed twice, or an offset inside a block rather than at its start (a forged or
// stale offset: a worker writes the TaskSlot's args_off the driver later frees), must be
// refused: accepting it would put the block on the free list twice and hand it out to two
// owners at once.
TEST_CASE("Heap.DoubleAndMisalignedFreesAreRefused" * doctest::timeout(10)) {
  Table t(4);
  Heap h(t.table(), 7);
  const std::uint64_t a = h.allocate(64), b = h.allocate(64);
  REQUIRE(a != 0);
  REQUIRE(b != 0);
  h.free(a);
  h.free(a);       // twice
  h.free(b + 16);  // inside b, not its start: b stays allocated
  std::set<std::uint64_t> handed;
  for (int i = 0; i < 8; ++i) {
    const std::uint64_t c = h.allocate(64);
    REQUIRE(c != 0);
    CHECK(c != b);                   // b was never freed
    CHECK(handed.insert(c).second);  // and nothing comes out twice
  }
}
