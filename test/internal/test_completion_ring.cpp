// The completion ring over plain memory (shm/completion_ring.hpp): entries come in ring order
// with their generation and slot index; the reader gives up (false, cursor kept) when the ring
// was lapped, when the count is behind its cursor (scribbled), and when an entry's lap byte does
// not match its position (a writer not done, or killed between taking its position and writing);
// watchers never go below zero.
#include <doctest/doctest.h>

#include <cstdint>
#include <utility>
#include <vector>

#include "shm/completion_ring.hpp"
#include "shm/segment.hpp"

using namespace shmray::shm;

namespace {
struct Mem {
  std::vector<std::uint64_t> words = std::vector<std::uint64_t>(Segment::completions_bytes() / 8 + 8);
  CompletionRing& ring() {
    auto p = reinterpret_cast<std::uintptr_t>(words.data());
    return *reinterpret_cast<CompletionRing*>((p + 63) / 64 * 64);
  }
  std::uint64_t* entries() { return reinterpret_cast<std::uint64_t*>(&ring() + 1); }
  void note(std::uint32_t gen, std::uint32_t index) { note_completion(ring(), entries(), gen, index); }
};
using Seen = std::vector<std::pair<std::uint32_t, std::uint32_t>>;
bool read(Mem& m, std::uint64_t& cursor, Seen& seen) {
  return read_completions(m.ring(), m.entries(), cursor,
                          [&](std::uint32_t gen, std::uint32_t index) { seen.emplace_back(gen, index); });
}
}  // namespace

TEST_CASE("CompletionRing.EntryWordPacksLapGenerationAndIndex" * doctest::timeout(10)) {
  CHECK(completion_entry(0, 5, 7) == ((1ull << 56) | (5ull << 32) | 7));
  CHECK((completion_entry(kCompletionEntries, 5, 7) >> 56) == 2);
  CHECK((completion_entry(255 * kCompletionEntries, 1, 1) >> 56) == 0);  // the lap wraps to 0 only at 256 laps...
  CHECK(completion_lap(255 * kCompletionEntries) == 0);                  // ...the same as a never-written entry's
  CHECK(completion_entry(3, 0x1ffffff, 0xffffffffu) == ((1ull << 56) | (0xffffffull << 32) | 0xffffffffu));
}

TEST_CASE("CompletionRing.EntriesComeInOrder" * doctest::timeout(10)) {
  Mem m;
  std::uint64_t cursor = completion_count(m.ring());
  Seen seen;
  CHECK(read(m, cursor, seen));  // nothing yet
  CHECK(seen.empty());
  for (std::uint32_t i = 0; i < 10; ++i) m.note(i + 1, 100 + i);
  REQUIRE(read(m, cursor, seen));
  CHECK(cursor == 10);
  REQUIRE(seen.size() == 10);
  for (std::uint32_t i = 0; i < 10; ++i) CHECK(seen[i] == std::pair{i + 1, 100 + i});
  // Around the end of the ring, a lap later: still in order, lap bytes of the next lap.
  seen.clear();
  for (std::uint64_t i = 10; i < kCompletionEntries + 5; ++i) m.note(1, std::uint32_t(i));
  cursor = kCompletionEntries - 3;
  REQUIRE(read(m, cursor, seen));
  REQUIRE(seen.size() == 8);
  for (std::uint32_t k = 0; k < 8; ++k) CHECK(seen[k].second == kCompletionEntries - 3 + k);
  CHECK(cursor == kCompletionEntries + 5);
}

TEST_CASE("CompletionRing.LappedReaderGivesUp" * doctest::timeout(10)) {
  Mem m;
  std::uint64_t cursor = 0;
  for (std::uint64_t i = 0; i < kCompletionEntries; ++i) m.note(1, std::uint32_t(i));
  Seen seen;
  std::uint64_t at_ring = 0;
  CHECK(read(m, at_ring, seen));  // exactly a ring's worth: still readable
  CHECK(seen.size() == kCompletionEntries);
  m.note(1, 0);  // one more: entry 0 was overwritten
  seen.clear();
  CHECK_FALSE(read(m, cursor, seen));
  CHECK(cursor == 0);
  CHECK(seen.empty());
}

TEST_CASE("CompletionRing.CountBehindCursorGivesUp" * doctest::timeout(10)) {
  Mem m;
  for (int i = 0; i < 4; ++i) m.note(1, i);
  std::uint64_t cursor = 9;  // ahead of the count: a scribbled count word
  Seen seen;
  CHECK_FALSE(read(m, cursor, seen));
  CHECK(cursor == 9);
  CHECK(seen.empty());
}

TEST_CASE("CompletionRing.WrongLapByteGivesUp" * doctest::timeout(10)) {
  Mem m;
  m.note(1, 1);
  // A writer that took position 1 and is not done (or was killed): count moved, no entry.
  atom(m.ring().count).fetch_add(1);
  m.note(3, 3);
  std::uint64_t cursor = 0;
  Seen seen;
  CHECK_FALSE(read(m, cursor, seen));
  CHECK(cursor == 0);
  CHECK(seen == Seen{{1, 1}});  // what came before it is real and may be taken
  // An entry of the previous lap at the position: not this lap's either.
  Mem n;
  for (std::uint64_t i = 0; i < kCompletionEntries; ++i) n.note(1, std::uint32_t(i));
  atom(n.ring().count).fetch_add(1);  // position kCompletionEntries taken, entry 0 still lap 1's
  std::uint64_t c2 = kCompletionEntries;
  seen.clear();
  CHECK_FALSE(read(n, c2, seen));
  CHECK(seen.empty());
  // The reader's way out: a full look, with the cursor at the count taken before it.
  c2 = completion_count(n.ring());
  n.note(4, 4);
  CHECK(read(n, c2, seen));
  CHECK(seen == Seen{{4, 4}});
}

TEST_CASE("CompletionRing.WatchersCountAndNeverGoBelowZero" * doctest::timeout(10)) {
  Mem m;
  CHECK_FALSE(completion_watched(m.ring()));
  watch_completions(m.ring());
  watch_completions(m.ring());
  CHECK(completion_watched(m.ring()));
  unwatch_completions(m.ring());
  CHECK(completion_watched(m.ring()));
  unwatch_completions(m.ring());
  CHECK_FALSE(completion_watched(m.ring()));
  unwatch_completions(m.ring());
  CHECK(m.ring().watchers == 0);
}
