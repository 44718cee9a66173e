#pragma once
// The one shared segment: an anonymous MAP_SHARED mapping (mmap) made before the fork
// server and workers are forked, so every process of the pool has it at the same address
// and nothing names it in /dev/shm: it is gone when the last process of the pool is. See layout.md for the map.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <utility>

#include "shm/layout.hpp"

namespace shmray::shm {

struct SegmentParams {
  std::uint32_t session = 1;
  std::uint32_t num_workers = 1;
  std::uint32_t max_workers = 1;
  std::uint32_t pool_slots = 0;  // slots of the task pool (0: all); the rest [pool_slots, max_workers) are actors'
  std::uint32_t task_capacity = 1u << 15;
  std::uint32_t object_capacity = 1u << 20;
  std::uint64_t arena_bytes = 64ull << 20;
  std::uint32_t event_ring_bytes = 256u << 10;
  std::uint32_t control_ring_entries = 1u << 12;
  std::uint64_t store_full_timeout_ns = 2'000'000'000;
  std::uint32_t timeline_entries = 0;  // records per worker's timeline ring, power of two; 0: no timeline
};

enum class AttachError { kNone, kTooSmall, kBadMagic, kBadVersion, kBadGeometry };
const char* to_string(AttachError e) noexcept;

/// Checks magic, layout version and that every region the header names lies inside
/// `mapping` (the header is read as untrusted bytes).
AttachError validate_header(std::span<const std::byte> mapping) noexcept;

class Segment {
 public:
  /// Maps and formats a segment; nullopt when the mapping fails (errno tells) or a size or
  /// count is out of the range validate_header() accepts (errno EOVERFLOW, nothing mapped).
  static std::optional<Segment> create(const SegmentParams& params) noexcept;
  Segment(Segment&& o) noexcept
      : base_(std::exchange(o.base_, nullptr)), size_(std::exchange(o.size_, 0)), geo_(o.geo_) {}
  Segment& operator=(Segment&& o) noexcept {
    if (this != &o) {
      unmap();
      base_ = std::exchange(o.base_, nullptr);
      size_ = std::exchange(o.size_, 0);
      geo_ = o.geo_;
    }
    return *this;
  }
  Segment(const Segment&) = delete;
  Segment& operator=(const Segment&) = delete;
  /// Unmaps this process's view; the memory lives on in the other processes of the pool.
  ~Segment() { unmap(); }

  std::byte* base() const noexcept { return static_cast<std::byte*>(base_); }
  std::size_t size() const noexcept { return size_; }
  /// This process's private copy of the geometry, taken when the segment was made (workers
  /// inherit it over fork). Every offset, capacity and size comes from here, never from the
  /// shared header, which any process of the pool could have scribbled over.
  const SegmentHeader& geometry() const noexcept { return geo_; }
  /// The shared header: the driver writes its pids and flags there. Read-only in workers.
  SegmentHeader& header() const noexcept { return *reinterpret_cast<SegmentHeader*>(base()); }
  /// The futex words on their own page, writable by every process.
  HotWords& hot() const noexcept { return *at<HotWords>(geo_.hot_off); }

  template <class T>
  T* at(std::uint64_t offset) const noexcept {
    return reinterpret_cast<T*>(base() + offset);
  }
  WorkerControl& worker(std::uint32_t slot) const noexcept {
    return *at<WorkerControl>(geo_.workers_off + std::uint64_t(slot) * geo_.worker_block_bytes);
  }
  std::byte* event_buffer(std::uint32_t slot) const noexcept {
    return reinterpret_cast<std::byte*>(&worker(slot)) + sizeof(WorkerControl);
  }
  std::uint64_t* control_entries(std::uint32_t slot) const noexcept {
    return reinterpret_cast<std::uint64_t*>(event_buffer(slot) + geo_.event_ring_bytes);
  }
  RingIndex& exits_index() const noexcept { return *at<RingIndex>(geo_.exits_off); }
  ExitReport* exits_entries() const noexcept { return at<ExitReport>(geo_.exits_off + sizeof(RingIndex)); }
  std::uint64_t* idle_spinning() const noexcept { return at<std::uint64_t>(geo_.idle_off); }
  std::uint64_t* idle_sleeping() const noexcept {
    return at<std::uint64_t>(geo_.idle_off + (8ull * geo_.idle_words + kCacheLine - 1) / kCacheLine * kCacheLine);
  }
  /// The completion ring (completion_ring.hpp); its kCompletionEntries u64 entries follow it.
  CompletionRing& completion_ring() const noexcept { return *at<CompletionRing>(geo_.completions_off); }
  std::uint64_t* completion_entries() const noexcept {
    return at<std::uint64_t>(geo_.completions_off + sizeof(CompletionRing));
  }
  static constexpr std::uint64_t completions_bytes() noexcept {
    return sizeof(CompletionRing) + 8 * kCompletionEntries;
  }
  RingIndex& dispatch_index() const noexcept { return *at<RingIndex>(geo_.dispatch_off); }
  std::uint64_t* dispatch_entries() const noexcept { return at<std::uint64_t>(geo_.dispatch_off + sizeof(RingIndex)); }
  TaskSlot* tasks() const noexcept { return at<TaskSlot>(geo_.tasks_off); }
  ObjectSlot* objects() const noexcept { return at<ObjectSlot>(geo_.objects_off); }
  std::uint64_t* spans() const noexcept { return at<std::uint64_t>(geo_.spans_off); }
  /// The timeline ring of a worker slot (its records follow it); nullptr when the timeline is off.
  TimelineRing* timeline_ring(std::uint32_t slot) const noexcept {
    if (geo_.timeline_entries == 0) return nullptr;
    return at<TimelineRing>(geo_.timeline_off + std::uint64_t(slot) * timeline_ring_bytes(geo_.timeline_entries));
  }
  static constexpr std::uint64_t timeline_ring_bytes(std::uint32_t entries) noexcept {
    return sizeof(TimelineRing) + sizeof(TimelineRecord) * std::uint64_t(entries);
  }

  /// In a worker, after validate_header: makes what workers never write (the header page,
  /// the exit ring) read-only, so a stray write by a task faults in the task's own process
  /// instead of corrupting what the driver and the fork server read. False if mprotect failed.
  bool protect_for_worker() const noexcept;

 private:
  Segment(void* base, std::size_t size, const SegmentHeader& geo) noexcept : base_(base), size_(size), geo_(geo) {}
  void unmap() noexcept;
  void* base_ = nullptr;
  std::size_t size_ = 0;
  SegmentHeader geo_{};
};

}  // namespace shmray::shm
