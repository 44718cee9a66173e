#pragma once
// The ready queue. The driver appends task refs (single producer). Any worker takes the
// task of an entry by claiming the task slot itself (try_claim_task), so the claim and the
// claimer's identity are one CAS: a worker killed right after it is still known as the
// owner. The head index is only a hint of where live entries start; anyone moves it past
// entries whose task is no longer queued.
#include <cstdint>
#include <optional>

#include "shm/atomics.hpp"
#include "shm/layout.hpp"
#include "shm/words.hpp"

namespace shmray::shm {

class DispatchQueue {
 public:
  DispatchQueue() = default;
  DispatchQueue(RingIndex* index, std::uint64_t* entries, std::uint32_t capacity, TaskSlot* tasks,
                std::uint32_t task_capacity)
      : index_(index), entries_(entries), mask_(capacity - 1), tasks_(tasks), task_capacity_(task_capacity) {}

  /// Driver only.
  bool try_push(std::uint64_t task_ref) noexcept {
    const std::uint64_t tail = load_relaxed(index_->tail);
    repair_head(tail);
    if (tail - load_acquire(index_->head) > mask_) {
      skip_dead();
      if (tail - load_acquire(index_->head) > mask_) return false;
    }
    atom(entries_[tail & mask_]).store(task_ref, std::memory_order_relaxed);
    store_release(index_->tail, tail + 1);  // publishes the entry
    return true;
  }

  /// Claims the oldest queued task for `owner`; nullopt when none is queued.
  std::optional<std::uint64_t> claim(std::uint16_t owner) noexcept {
    for (;;) {
      std::uint64_t head = load_acquire(index_->head);
      const std::uint64_t tail = load_acquire(index_->tail);  // the driver's release: entries below are written
      if (head >= tail) return std::nullopt;
      const std::uint64_t ref = atom(entries_[head & mask_]).load(std::memory_order_relaxed);
      const bool got = claimable(ref) && try_claim_task(tasks_[task_ref_index(ref)], task_ref_gen(ref), owner);
      cas(index_->head, head, head + 1);  // best effort: someone may have moved it already
      if (got) return ref;
    }
  }

  /// Entries between head and tail (an upper bound of the queued tasks); 0 when a stray
  /// write put head past tail.
  std::uint64_t size() const noexcept {
    const std::uint64_t head = load_acquire(index_->head), tail = load_acquire(index_->tail);
    return tail > head ? tail - head : 0;
  }
  bool empty() const noexcept { return size() == 0; }
  std::uint64_t head() const noexcept { return load_acquire(index_->head); }

  /// Driver only: a head a stray write moved past tail, or more than a ring behind it, is
  /// set back to the oldest entry the ring can hold. Entries are claimed through the task
  /// word (generation and state), so looking at dead ones again costs a skip, never a task.
  void repair_head(std::uint64_t tail) noexcept {
    std::uint64_t head = load_acquire(index_->head);
    const std::uint64_t oldest = tail > mask_ ? tail - mask_ - 1 : 0;
    while ((head > tail || head < oldest) && !cas(index_->head, head, oldest)) {
    }
  }

  /// Moves head past entries that are no longer queued.
  void skip_dead() noexcept {
    for (;;) {
      std::uint64_t head = load_acquire(index_->head);
      if (head >= load_acquire(index_->tail)) return;
      const std::uint64_t ref = atom(entries_[head & mask_]).load(std::memory_order_relaxed);
      if (claimable(ref) &&
          TaskWord::unpack(load_acquire(tasks_[task_ref_index(ref)].state)).state == TaskState::kQueued &&
          TaskWord::unpack(load_acquire(tasks_[task_ref_index(ref)].state)).gen == task_ref_gen(ref))
        return;
      cas(index_->head, head, head + 1);
    }
  }

 private:
  bool claimable(std::uint64_t ref) const noexcept {
    return std::uint32_t(ref) != 0 && task_ref_index(ref) < task_capacity_;
  }
  RingIndex* index_ = nullptr;
  std::uint64_t* entries_ = nullptr;
  std::uint64_t mask_ = 0;
  TaskSlot* tasks_ = nullptr;
  std::uint32_t task_capacity_ = 0;
};

}  // namespace shmray::shm
