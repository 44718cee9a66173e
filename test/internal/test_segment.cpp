// Segment::create, the one mmap of the pool: sizes that would wrap the layout arithmetic are
// refused before the mapping is made; the mapping is shared with a forked child; a moved-from
// segment unmaps nothing and the owner unmaps once.
#include <doctest/doctest.h>

#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <limits>
#include <utility>

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

// mincore() fails with ENOMEM on an address range that is not mapped.
bool mapped(const void* at) {
  unsigned char vec = 0;
  return ::mincore(const_cast<void*>(at), kPage, &vec) == 0;
}
}  // namespace

TEST_CASE("Segment.OversizedArenaRefusedBeforeMmap" * doctest::timeout(10)) {
  constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();
  for (std::uint64_t bytes :
       {kMax, kMax - kSpanBytes + 2, (std::uint64_t{1} << 26) * kSpanBytes + 1, std::uint64_t{1} << 63}) {
    CAPTURE(bytes);
    SegmentParams p = small_params();
    p.arena_bytes = bytes;
    errno = 0;
    CHECK_FALSE(Segment::create(p).has_value());
    CHECK(errno == EOVERFLOW);
  }
}

TEST_CASE("Segment.OutOfRangeCountsRefused" * doctest::timeout(10)) {
  SegmentParams p = small_params();
  p.task_capacity = std::numeric_limits<std::uint32_t>::max();  // 2 * it as a pow2 would wrap to 0
  errno = 0;
  CHECK_FALSE(Segment::create(p).has_value());
  CHECK(errno == EOVERFLOW);
  p = small_params();
  p.max_workers = kMaxWorkerSlots + 1;
  CHECK_FALSE(Segment::create(p).has_value());
}

TEST_CASE("Segment.EveryCreatedSegmentValidates" * doctest::timeout(10)) {
  auto seg = Segment::create(small_params());
  REQUIRE(seg.has_value());
  CHECK(validate_header({seg->base(), seg->size()}) == AttachError::kNone);
}

TEST_CASE("Segment.SharedWithForkedChild" * doctest::timeout(10)) {
  auto seg = Segment::create(small_params());
  REQUIRE(seg.has_value());
  std::byte* arena = seg->base() + seg->geometry().arena_off;
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    arena[0] = std::byte{42};
    ::_exit(0);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status));
  CHECK(arena[0] == std::byte{42});
}

TEST_CASE("Segment.MoveTransfersTheMappingAndUnmapsOnce" * doctest::timeout(10)) {
  const std::byte* base = nullptr;
  {
    auto made = Segment::create(small_params());
    REQUIRE(made.has_value());
    base = made->base();
    Segment a = std::move(*made);
    CHECK(made->base() == nullptr);
    CHECK(made->size() == 0);
    CHECK(a.base() == base);
    auto other = Segment::create(small_params());
    REQUIRE(other.has_value());
    const std::byte* other_base = other->base();
    a = std::move(*other);  // a's old mapping goes
    CHECK_FALSE(mapped(base));
    CHECK(a.base() == other_base);
    base = other_base;
  }
  CHECK_FALSE(mapped(base));
}
