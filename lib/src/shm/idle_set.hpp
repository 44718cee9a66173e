#pragma once
// Which workers are idle, spinning or asleep: one bit per worker slot in the segment, set
// and cleared by that worker with one RMW each. A bit names its owner, so the driver can
// clear the bits of a worker that was killed while idle; a shared counter could not be
// repaired (its increment is anonymous) and a phantom "spinner" would stop every wake-up.
#include <bit>
#include <cstdint>

#include "shm/atomics.hpp"

namespace shmray::shm {

class IdleSet {
 public:
  IdleSet() = default;
  /// `n` words covering `slots` worker slots; bits past `slots` (a scribbled word) are ignored.
  IdleSet(std::uint64_t* words, std::uint32_t n, std::uint32_t slots) noexcept : w_(words), n_(n), slots_(slots) {}

  void set(std::uint32_t slot) noexcept { atom(w_[slot / 64]).fetch_or(bit(slot), std::memory_order_seq_cst); }
  void clear(std::uint32_t slot) noexcept { atom(w_[slot / 64]).fetch_and(~bit(slot), std::memory_order_seq_cst); }
  bool any() const noexcept {
    for (std::uint32_t i = 0; i < n_; ++i)
      if (word(i) != 0) return true;
    return false;
  }
  std::uint32_t count() const noexcept {
    std::uint32_t c = 0;
    for (std::uint32_t i = 0; i < n_; ++i) c += static_cast<std::uint32_t>(std::popcount(word(i)));
    return c;
  }
  /// Calls f(slot) for each set bit until f returns true; returns whether it did.
  template <class F>
  bool find(F&& f) const {
    for (std::uint32_t i = 0; i < n_; ++i)
      for (std::uint64_t m = word(i); m; m &= m - 1)
        if (f(i * 64 + static_cast<std::uint32_t>(std::countr_zero(m)))) return true;
    return false;
  }

 private:
  static std::uint64_t bit(std::uint32_t slot) noexcept { return std::uint64_t{1} << (slot % 64); }
  /// Word i masked to real slots: whoever reads a slot from here may index worker blocks with it.
  std::uint64_t word(std::uint32_t i) const noexcept {
    const std::uint64_t w = load_relaxed(w_[i]);
    const std::uint32_t first = i * 64;
    if (first + 64 <= slots_) return w;
    return first >= slots_ ? 0 : w & ((std::uint64_t{1} << (slots_ - first)) - 1);
  }
  std::uint64_t* w_ = nullptr;
  std::uint32_t n_ = 0;
  std::uint32_t slots_ = 0;
};

}  // namespace shmray::shm
