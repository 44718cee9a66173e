#include "common/views.hpp"

#include "shm/futex.hpp"

namespace shmray::common {

Views::Views(const shm::Segment& seg)
    : geo(seg.geometry()),
      shared(&seg.header()),
      hot(&seg.hot()),
      base(seg.base()),
      tasks(seg.tasks()),
      objects(seg.objects()),
      spans(seg.spans(), geo.span_count, geo.arena_off),
      dispatch(&seg.dispatch_index(), seg.dispatch_entries(), geo.dispatch_capacity, seg.tasks(), geo.task_capacity),
      spinning(seg.idle_spinning(), geo.idle_words, geo.max_workers),
      sleeping(seg.idle_sleeping(), geo.idle_words, geo.max_workers),
      completions(&seg.completion_ring()),
      completion_entries(seg.completion_entries()),
      session(geo.session),
      object_capacity(geo.object_capacity),
      task_capacity(geo.task_capacity),
      arena_off(geo.arena_off),
      arena_end(geo.arena_off + geo.arena_bytes) {}

bool Views::live_spinner() const noexcept {
  if (!spinning.any()) return false;
  const std::uint64_t now = shm::now_ns();
  return spinning.find([&](std::uint32_t slot) {
    // Grace past the spin's end: the spinner may be between its last look and clearing its bit.
    return now < shm::load_relaxed(worker(slot).spin_until_ns) + kSpinGraceNs;
  });
}

bool Views::payload(const shm::ObjectSlot& s, std::span<const std::byte>& out) const noexcept {
  const std::uint64_t size = s.size, data = s.data;
  if (data == 0) {
    if (size > shm::kInlineBytes) return false;
    out = {s.inline_data, static_cast<std::size_t>(size)};
    return true;
  }
  const std::byte* p = arena_bytes(data, size);
  if (!p) return false;
  out = {p, static_cast<std::size_t>(size)};
  return true;
}

}  // namespace shmray::common
