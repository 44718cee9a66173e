#pragma once
// The arena is cut into 64 KiB spans. Each span's word in the span table says who owns it
// and how it is used; a process takes a free span with one CAS, so ownership is always
// recorded before the memory is used. A span run a killed process had half claimed still
// names it as owner and is reclaimed with the rest of what it owned (Heap::adopt).
#include <cstdint>
#include <optional>

#include "shm/atomics.hpp"
#include "shm/layout.hpp"

namespace shmray::shm {

struct SpanWord {
  std::uint16_t owner = 0;
  SpanKind kind = SpanKind::kFree;
  std::uint8_t size_class = 0;
  std::uint32_t run = 0;

  static SpanWord unpack(std::uint64_t w) {
    return {std::uint16_t(w >> 48), SpanKind(std::uint8_t(w >> 40)), std::uint8_t(w >> 32), std::uint32_t(w)};
  }
  std::uint64_t pack() const {
    return (std::uint64_t(owner) << 48) | (std::uint64_t(kind) << 40) | (std::uint64_t(size_class) << 32) | run;
  }
};

class SpanTable {
 public:
  SpanTable() = default;
  SpanTable(std::uint64_t* words, std::uint32_t count, std::uint64_t arena_off) noexcept
      : words_(words), count_(count), arena_off_(arena_off) {}

  /// Claims one free span as a small-block span; first fit, so warm memory is reused first.
  std::optional<std::uint32_t> claim_small(std::uint16_t owner, std::uint8_t size_class) noexcept;
  /// Claims `n` contiguous free spans for one large object; returns the first.
  std::optional<std::uint32_t> claim_run(std::uint16_t owner, std::uint32_t n) noexcept;
  void release_span(std::uint32_t span) noexcept { store_release(words_[span], std::uint64_t{0}); }
  /// Frees a run claimed by claim_run (any process may: a published large object is immutable).
  void release_run(std::uint32_t first) noexcept;

  SpanWord word(std::uint32_t span) const noexcept { return SpanWord::unpack(load_acquire(words_[span])); }
  bool transfer(std::uint32_t span, SpanWord from, SpanWord to) noexcept {
    std::uint64_t expect = from.pack();
    return cas(words_[span], expect, to.pack());
  }
  std::uint32_t count() const noexcept { return count_; }
  std::uint64_t offset_of(std::uint32_t span) const noexcept { return arena_off_ + std::uint64_t(span) * kSpanBytes; }
  /// Span holding arena offset `off`, or count() when `off` is outside the arena.
  std::uint32_t span_of(std::uint64_t off) const noexcept {
    if (off < arena_off_) return count_;
    const std::uint64_t s = (off - arena_off_) / kSpanBytes;
    return s < count_ ? std::uint32_t(s) : count_;
  }
  std::uint32_t spans_in_use() const noexcept;

 private:
  std::uint64_t* words_ = nullptr;
  std::uint32_t count_ = 0;
  std::uint64_t arena_off_ = 0;
};

}  // namespace shmray::shm
