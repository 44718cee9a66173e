#pragma once
// A process's allocator over the spans it owns. Its bookkeeping is private to the process:
// blocks of one span are all one size class, and only the owner allocates or frees them (a
// block another process drops is sent back to its owner, see driver/object_store.cpp).
// When an owner dies, the driver adopts its spans and rebuilds their free lists from the
// objects that are still live (adopt), so a kill at any instruction loses nothing.
#include <array>
#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "shm/spans.hpp"

namespace shmray::shm {

inline constexpr std::array<std::uint32_t, 22> kSizeClasses = {16,   32,   48,    64,    96,    128,  192,  256,
                                                               384,  512,  768,   1024,  1536,  2048, 3072, 4096,
                                                               6144, 8192, 12288, 16384, 24576, 32768};
inline constexpr std::uint32_t kMaxSmall = kSizeClasses.back();

/// Size class index for `bytes` (<= kMaxSmall).
std::uint8_t size_class_of(std::size_t bytes) noexcept;

class Heap {
 public:
  Heap() = default;
  Heap(SpanTable spans, std::uint16_t owner) : spans_(spans), owner_(owner) {}

  /// Arena offset of a block of at least `bytes` (16-aligned), or 0 when no space now.
  std::uint64_t allocate(std::size_t bytes);
  /// Returns a block this heap handed out (small), or a large run (any owner may). True
  /// when arena spans became free (others waiting for space may try again). A small offset
  /// that is not the start of a block handed out and not yet freed is ignored.
  bool free(std::uint64_t offset);
  /// Takes over every span owned by `dead` (a process that is gone), keeping the blocks at
  /// `live` (arena offsets of objects still referenced); everything else becomes free.
  void adopt_owner(std::uint16_t dead, const std::vector<std::uint64_t>& live);
  /// Usable bytes of the block at `offset`.
  std::size_t block_size(std::uint64_t offset) const noexcept;
  std::uint16_t owner() const noexcept { return owner_; }
  const SpanTable& spans() const noexcept { return spans_; }

 private:
  struct SpanInfo {
    std::uint8_t size_class = 0;
    std::uint16_t used = 0;
    std::uint16_t capacity = 0;
    std::int32_t partial_pos = -1;  // index in partial_[class], -1 when full
    std::vector<std::uint16_t> free_blocks;
    std::vector<bool> taken;  // per block: handed out; a free of a block not taken is refused
  };
  std::uint64_t allocate_small(std::uint8_t cls);
  void add_partial(std::uint32_t span, SpanInfo& info);
  void remove_partial(SpanInfo& info);
  SpanInfo& start_span(std::uint32_t span, std::uint8_t cls);
  void adopt_small(std::uint32_t span, SpanWord w, const std::vector<std::uint64_t>& live);

  SpanTable spans_;
  std::uint16_t owner_ = 0;
  std::unordered_map<std::uint32_t, SpanInfo> info_;
  std::array<std::vector<std::uint32_t>, kSizeClasses.size()> partial_;
  std::array<std::uint32_t, kSizeClasses.size()> empty_spans_{};
};

}  // namespace shmray::shm
