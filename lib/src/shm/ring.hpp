#pragma once
// Single-producer single-consumer ring of fixed-size entries over a RingIndex in the segment.
// The handles are process-local views; which process holds which end is fixed by type.
#include <cstdint>
#include <optional>
#include <type_traits>

#include "shm/atomics.hpp"
#include "shm/layout.hpp"

namespace shmray::shm {

template <class T>
class SpscProducer {
  static_assert(std::is_trivially_copyable_v<T>);

 public:
  SpscProducer() = default;
  SpscProducer(RingIndex* index, T* entries, std::uint32_t capacity)
      : index_(index), entries_(entries), mask_(capacity - 1) {}

  bool try_push(const T& v) noexcept {
    const std::uint64_t tail = load_relaxed(index_->tail);  // only we write it
    if (tail - cached_head_ > mask_) {
      cached_head_ = load_acquire(index_->head);  // the consumer's release: the entry is read
      if (tail - cached_head_ > mask_) return false;
    }
    entries_[tail & mask_] = v;
    store_release(index_->tail, tail + 1);  // publishes the entry to the consumer
    return true;
  }
  bool valid() const { return index_ != nullptr; }

 private:
  RingIndex* index_ = nullptr;
  T* entries_ = nullptr;
  std::uint64_t mask_ = 0;
  std::uint64_t cached_head_ = 0;
};

template <class T>
class SpscConsumer {
  static_assert(std::is_trivially_copyable_v<T>);

 public:
  SpscConsumer() = default;
  SpscConsumer(RingIndex* index, T* entries, std::uint32_t capacity)
      : index_(index), entries_(entries), mask_(capacity - 1) {}

  std::optional<T> try_pop() noexcept {
    const std::uint64_t head = load_relaxed(index_->head);  // only we write it
    if (head == cached_tail_) {
      cached_tail_ = load_acquire(index_->tail);  // the producer's release: the entry is written
      if (head == cached_tail_) return std::nullopt;
    }
    T v = entries_[head & mask_];
    store_release(index_->head, head + 1);  // gives the entry back to the producer
    return v;
  }
  bool empty() noexcept { return load_relaxed(index_->head) == load_acquire(index_->tail); }
  bool valid() const { return index_ != nullptr; }

 private:
  RingIndex* index_ = nullptr;
  T* entries_ = nullptr;
  std::uint64_t mask_ = 0;
  std::uint64_t cached_tail_ = 0;
};

}  // namespace shmray::shm
