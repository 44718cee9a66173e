#pragma once
// The task timeline's per-worker ring (layout.hpp: TimelineRing, TimelineRecord). The worker
// appends with plain stores and one release store of its tail: no syscall (the clock is the
// vDSO's), no allocation. A full ring drops the record and counts it; before that the worker
// gives the driver a bounded moment to drain (WorkerRuntime::timeline_room). The driver reads
// behind it and moves its head on. Nothing here throws.
#include <cstdint>

#include "shm/atomics.hpp"
#include "shm/layout.hpp"

namespace shmray::shm {

/// The worker's end. Default-constructed (the timeline off): on() is false and nothing is written.
class TimelineWriter {
 public:
  TimelineWriter() = default;
  TimelineWriter(TimelineRing* ring, std::uint32_t entries) noexcept
      : ring_(ring),
        records_(reinterpret_cast<TimelineRecord*>(ring + 1)),
        mask_(entries - 1),
        tail_(load_acquire(ring->tail)),  // a new process of the slot goes on after the last one's records
        head_(load_acquire(ring->head)) {}
  bool on() const noexcept { return ring_ != nullptr; }
  void append(std::uint64_t task_ref, std::uint64_t ns, TimelineKind kind, std::uint32_t aux) noexcept {
    // The driver's head is read only when the ring looks full by the last one read: the
    // line it is on moves between the processes once per wrap, not per record.
    if (tail_ - head_ > mask_) {
      head_ = load_acquire(ring_->head);  // the driver is done with what is before it
      if (tail_ - head_ > mask_) {        // full (or a head the driver never wrote)
        store_relaxed(ring_->dropped, load_relaxed(ring_->dropped) + 1);
        return;
      }
    }
    TimelineRecord& r = records_[tail_ & mask_];
    r.task_ref = task_ref;
    r.ns = ns;
    r.value = 0;
    r.kind = static_cast<std::uint32_t>(kind);
    r.aux = aux;
    store_release(ring_->tail, ++tail_);
  }
  /// No room for a record (head re-read first): append() would drop it.
  bool full() noexcept {
    if (tail_ - head_ <= mask_) return false;
    head_ = load_acquire(ring_->head);
    return tail_ - head_ > mask_;
  }
  /// More than half the ring not yet read by the driver: the worker wakes the driver (at its
  /// TaskDone, as for a filling event ring), which drains it. Without this a burst that runs
  /// while the driver sleeps in a get would overflow the ring and lose the records.
  bool filling() noexcept {
    if (!ring_ || tail_ - head_ <= (mask_ + 1) / 2) return false;
    head_ = load_acquire(ring_->head);  // stale by design (append reads it only when full)
    return tail_ - head_ > (mask_ + 1) / 2;
  }

 private:
  TimelineRing* ring_ = nullptr;
  TimelineRecord* records_ = nullptr;
  std::uint64_t mask_ = 0;
  std::uint64_t tail_ = 0;
  std::uint64_t head_ = 0;  // the driver's head as last read
};

/// Whether the worker published records the driver has not read (a cheap look before a drain).
inline bool timeline_pending(TimelineRing& ring) noexcept { return load_acquire(ring.tail) != load_relaxed(ring.head); }

/// The driver's end: calls `take(const TimelineRecord&)` for each record published since the
/// last read, then frees them for the worker. The worker's tail is untrusted: a tail more
/// than a ring ahead (or behind) reads the last ring's worth only.
template <class F>
std::uint64_t drain_timeline(TimelineRing& ring, std::uint32_t entries, F&& take) noexcept {
  const TimelineRecord* records = reinterpret_cast<const TimelineRecord*>(&ring + 1);
  std::uint64_t head = load_relaxed(ring.head);
  const std::uint64_t tail = load_acquire(ring.tail);
  if (tail == head) return 0;
  std::uint64_t lost = 0;
  if (tail - head > entries) {  // not a position this ring can be at: skip to the last ring's worth
    lost = tail - head - entries;
    head = tail - entries;
  }
  for (; head != tail; ++head) {
    TimelineRecord r = records[head & (entries - 1)];  // a copy: the worker may write it once head moves
    take(r);
  }
  store_release(ring.head, head);
  return lost;
}

}  // namespace shmray::shm
