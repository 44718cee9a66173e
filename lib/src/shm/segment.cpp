#include "shm/segment.hpp"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>

namespace shmray::shm {
namespace {

constexpr std::uint64_t kArenaAlign = 2ull << 20;  // lets the arena use huge pages where the kernel offers them

constexpr std::uint64_t align_up(std::uint64_t v, std::uint64_t a) { return (v + a - 1) / a * a; }
constexpr bool pow2(std::uint64_t v) { return v && !(v & (v - 1)); }

std::uint64_t pow2_at_least(std::uint64_t v) {
  std::uint64_t p = 1;
  while (p < v) p <<= 1;
  return p;
}

// Fills the geometry fields of `h` from `p` (the region offsets follow each other).
void lay_out(const SegmentParams& p, SegmentHeader& h) {
  h.magic = kMagic;
  h.layout_version = kLayoutVersion;
  h.header_bytes = sizeof(SegmentHeader);
  h.session = p.session;
  h.max_workers = p.max_workers;
  h.pool_slots = p.pool_slots ? p.pool_slots : p.max_workers;
  h.num_workers = p.num_workers;
  h.task_capacity = p.task_capacity;
  h.object_capacity = p.object_capacity;
  h.dispatch_capacity = static_cast<std::uint32_t>(pow2_at_least(2ull * p.task_capacity));
  h.event_ring_bytes = p.event_ring_bytes;
  h.control_ring_entries = p.control_ring_entries;
  h.exits_entries = static_cast<std::uint32_t>(pow2_at_least(2ull * kMaxWorkerSlots));
  h.worker_block_bytes = static_cast<std::uint32_t>(
      align_up(sizeof(WorkerControl) + p.event_ring_bytes + 8ull * p.control_ring_entries, kPage));
  h.store_full_timeout_ns = p.store_full_timeout_ns;
  h.span_count = static_cast<std::uint32_t>((p.arena_bytes + kSpanBytes - 1) / kSpanBytes);

  h.hot_off = kPage;  // the header's page is read-only in workers; the futex words they write are not
  std::uint64_t off = 2 * kPage;
  h.workers_off = off;
  off += std::uint64_t(h.worker_block_bytes) * h.max_workers;
  h.exits_off = off = align_up(off, kPage);
  off += sizeof(RingIndex) + sizeof(ExitReport) * h.exits_entries;
  h.idle_words = (h.max_workers + 63) / 64;
  h.idle_off = off = align_up(off, kPage);  // the exit ring's pages before it are read-only in workers
  off += 2 * align_up(8ull * h.idle_words, kCacheLine);
  h.completions_off = off = align_up(off, kPage);
  off += Segment::completions_bytes();
  h.dispatch_off = off = align_up(off, kPage);
  off += sizeof(RingIndex) + 8ull * h.dispatch_capacity;
  h.tasks_off = off = align_up(off, kPage);
  off += sizeof(TaskSlot) * std::uint64_t(h.task_capacity);
  h.objects_off = off = align_up(off, kPage);
  off += sizeof(ObjectSlot) * std::uint64_t(h.object_capacity);
  h.spans_off = off = align_up(off, kPage);
  off += 8ull * h.span_count;
  h.timeline_entries = p.timeline_entries;
  h.timeline_off = 0;
  if (p.timeline_entries) {
    h.timeline_off = off = align_up(off, kPage);
    off += Segment::timeline_ring_bytes(p.timeline_entries) * h.max_workers;
  }
  h.arena_off = off = align_up(off, kArenaAlign);
  h.arena_bytes = std::uint64_t(h.span_count) * kSpanBytes;
  h.total_bytes = off + h.arena_bytes;
}

// The bounds of every segment: within them lay_out's arithmetic cannot wrap (create()
// refuses params outside them before mapping anything, validate_header() such a header).
bool in_range(const SegmentParams& p) {
  const std::uint64_t spans = p.arena_bytes / kSpanBytes + (p.arena_bytes % kSpanBytes != 0);
  return p.max_workers != 0 && p.max_workers <= kMaxWorkerSlots && p.num_workers != 0 &&
         p.num_workers <= p.max_workers && p.pool_slots <= p.max_workers &&
         (p.pool_slots == 0 || p.pool_slots >= p.num_workers) && p.task_capacity != 0 &&
         p.task_capacity <= (1u << 24) && p.object_capacity != 0 && p.object_capacity <= (1u << 28) && spans != 0 &&
         spans <= (1u << 26) && pow2(p.event_ring_bytes) && p.event_ring_bytes >= 4096 &&
         p.event_ring_bytes <= (64u << 20) && pow2(p.control_ring_entries) && p.control_ring_entries <= (1u << 24) &&
         (p.timeline_entries == 0 || (pow2(p.timeline_entries) && p.timeline_entries <= (1u << 20)));
}

}  // namespace

const char* to_string(AttachError e) noexcept {
  switch (e) {
    case AttachError::kNone: return "ok";
    case AttachError::kTooSmall: return "mapping smaller than a segment header";
    case AttachError::kBadMagic: return "not a shmray segment (bad magic)";
    case AttachError::kBadVersion: return "segment layout version differs from this build's";
    case AttachError::kBadGeometry: return "segment header names regions outside the mapping";
  }
  return "?";
}

AttachError validate_header(std::span<const std::byte> mapping) noexcept {
  if (mapping.size() < sizeof(SegmentHeader)) return AttachError::kTooSmall;
  SegmentHeader h;
  std::memcpy(&h, mapping.data(), sizeof h);
  if (h.magic != kMagic) return AttachError::kBadMagic;
  if (h.layout_version != kLayoutVersion || h.header_bytes != sizeof(SegmentHeader)) return AttachError::kBadVersion;
  // Recompute the geometry from the sizes and require the header to match it exactly.
  SegmentParams p;
  p.session = h.session;
  p.num_workers = h.num_workers;
  p.max_workers = h.max_workers;
  p.pool_slots = h.pool_slots;
  p.task_capacity = h.task_capacity;
  p.object_capacity = h.object_capacity;
  p.arena_bytes = std::uint64_t(h.span_count) * kSpanBytes;
  p.event_ring_bytes = h.event_ring_bytes;
  p.control_ring_entries = h.control_ring_entries;
  p.store_full_timeout_ns = h.store_full_timeout_ns;
  p.timeline_entries = h.timeline_entries;
  // 0 means "all of max_workers" only to create(): a header always holds the count.
  if (h.pool_slots == 0 || !in_range(p)) return AttachError::kBadGeometry;
  SegmentHeader expect{};
  lay_out(p, expect);
  const bool same = expect.workers_off == h.workers_off && expect.exits_off == h.exits_off &&
                    expect.dispatch_off == h.dispatch_off && expect.tasks_off == h.tasks_off &&
                    expect.objects_off == h.objects_off && expect.spans_off == h.spans_off &&
                    expect.arena_off == h.arena_off && expect.arena_bytes == h.arena_bytes &&
                    expect.total_bytes == h.total_bytes && expect.worker_block_bytes == h.worker_block_bytes &&
                    expect.dispatch_capacity == h.dispatch_capacity && expect.exits_entries == h.exits_entries &&
                    expect.idle_off == h.idle_off && expect.idle_words == h.idle_words && expect.hot_off == h.hot_off &&
                    expect.timeline_off == h.timeline_off && expect.completions_off == h.completions_off;
  if (!same || h.total_bytes > mapping.size()) return AttachError::kBadGeometry;
  return AttachError::kNone;
}

std::optional<Segment> Segment::create(const SegmentParams& params) noexcept {
  if (!in_range(params)) {
    errno = EOVERFLOW;
    return std::nullopt;
  }
  SegmentHeader h{};
  lay_out(params, h);
  // MAP_SHARED | MAP_ANONYMOUS: shared with the processes forked later (fork keeps it, exec
  // drops it), named nowhere.
  void* at = ::mmap(nullptr, h.total_bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (at == MAP_FAILED) return std::nullopt;
  Segment seg(at, h.total_bytes, h);
  std::memcpy(seg.base(), &h, sizeof h);  // fresh anonymous memory is zero: every ring and slot starts empty
  // Keep the object store (the host's data) out of the core dump of any process of the
  // pool; the flag is on the mapping, so the fork server and workers inherit it.
  ::madvise(seg.base(), seg.size(), MADV_DONTDUMP);
  return seg;
}

void Segment::unmap() noexcept {
  if (base_) ::munmap(base_, size_);
  base_ = nullptr;
  size_ = 0;
}

bool Segment::protect_for_worker() const noexcept {
  const std::uint64_t exits_end =
      align_up(geo_.exits_off + sizeof(RingIndex) + sizeof(ExitReport) * geo_.exits_entries, kPage);
  bool ok = ::mprotect(base(), kPage, PROT_READ) == 0;                                    // the header
  ok &= ::mprotect(base() + geo_.exits_off, exits_end - geo_.exits_off, PROT_READ) == 0;  // fork server -> driver
  return ok;
}

}  // namespace shmray::shm
