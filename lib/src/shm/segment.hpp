#pragma once
// The one shared segment: an anonymous MAP_SHARED mapping (Boost.Interprocess
// anonymous_shared_memory) made before the fork server and workers are forked, so every
// process of the pool has it at the same address and nothing names it in /dev/shm: it is
// gone when the last process of the pool is. See layout.md for the map.
#include <boost/interprocess/mapped_region.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "shm/layout.hpp"

namespace shmray::shm {

struct SegmentParams {
  std::uint32_t session = 1;
  std::uint32_t num_workers = 1;
  std::uint32_t max_workers = 1;
  std::uint32_t task_capacity = 1u << 15;
  std::uint32_t object_capacity = 1u << 20;
  std::uint64_t arena_bytes = 64ull << 20;
  std::uint32_t event_ring_bytes = 256u << 10;
  std::uint32_t control_ring_entries = 1u << 12;
  std::uint64_t store_full_timeout_ns = 2'000'000'000;
};

enum class AttachError { kNone, kTooSmall, kBadMagic, kBadVersion, kBadGeometry };
const char* to_string(AttachError e) noexcept;

/// Checks magic, layout version and that every region the header names lies inside
/// `mapping` (the header is read as untrusted bytes).
AttachError validate_header(std::span<const std::byte> mapping) noexcept;

class Segment {
 public:
  /// Maps and formats a segment; nullopt when the mapping fails (errno tells).
  static std::optional<Segment> create(const SegmentParams& params) noexcept;
  Segment(Segment&&) noexcept = default;
  Segment& operator=(Segment&&) noexcept = default;

  std::byte* base() const noexcept { return static_cast<std::byte*>(region_.get_address()); }
  std::size_t size() const noexcept { return region_.get_size(); }
  SegmentHeader& header() const noexcept { return *reinterpret_cast<SegmentHeader*>(base()); }

  template <class T>
  T* at(std::uint64_t offset) const noexcept {
    return reinterpret_cast<T*>(base() + offset);
  }
  WorkerControl& worker(std::uint32_t slot) const noexcept {
    return *at<WorkerControl>(header().workers_off + std::uint64_t(slot) * header().worker_block_bytes);
  }
  std::byte* event_buffer(std::uint32_t slot) const noexcept {
    return reinterpret_cast<std::byte*>(&worker(slot)) + sizeof(WorkerControl);
  }
  std::uint64_t* control_entries(std::uint32_t slot) const noexcept {
    return reinterpret_cast<std::uint64_t*>(event_buffer(slot) + header().event_ring_bytes);
  }
  RingIndex& exits_index() const noexcept { return *at<RingIndex>(header().exits_off); }
  ExitReport* exits_entries() const noexcept { return at<ExitReport>(header().exits_off + sizeof(RingIndex)); }
  std::uint64_t* idle_spinning() const noexcept { return at<std::uint64_t>(header().idle_off); }
  std::uint64_t* idle_sleeping() const noexcept {
    return at<std::uint64_t>(header().idle_off + (8ull * header().idle_words + kCacheLine - 1) / kCacheLine * kCacheLine);
  }
  RingIndex& dispatch_index() const noexcept { return *at<RingIndex>(header().dispatch_off); }
  std::uint64_t* dispatch_entries() const noexcept { return at<std::uint64_t>(header().dispatch_off + sizeof(RingIndex)); }
  TaskSlot* tasks() const noexcept { return at<TaskSlot>(header().tasks_off); }
  ObjectSlot* objects() const noexcept { return at<ObjectSlot>(header().objects_off); }
  std::uint64_t* spans() const noexcept { return at<std::uint64_t>(header().spans_off); }

 private:
  explicit Segment(boost::interprocess::mapped_region region) noexcept : region_(std::move(region)) {}
  boost::interprocess::mapped_region region_;
};

}  // namespace shmray::shm
