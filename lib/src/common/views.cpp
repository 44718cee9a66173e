#include "common/views.hpp"

namespace shmray::common {

Views::Views(const shm::Segment& seg)
    : header(&seg.header()),
      base(seg.base()),
      tasks(seg.tasks()),
      objects(seg.objects()),
      spans(seg.spans(), seg.header().span_count, seg.header().arena_off),
      dispatch(&seg.dispatch_index(), seg.dispatch_entries(), seg.header().dispatch_capacity, seg.tasks(),
               seg.header().task_capacity),
      spinning(seg.idle_spinning(), seg.header().idle_words),
      sleeping(seg.idle_sleeping(), seg.header().idle_words),
      session(seg.header().session),
      object_capacity(seg.header().object_capacity),
      task_capacity(seg.header().task_capacity),
      arena_off(seg.header().arena_off),
      arena_end(seg.header().arena_off + seg.header().arena_bytes) {}

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
