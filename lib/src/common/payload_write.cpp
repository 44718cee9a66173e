#include "common/payload_write.hpp"

#include <algorithm>
#include <cstring>
#include <string>

#include "shm/completion_ring.hpp"
#include "shm/futex.hpp"
#include "shm/words.hpp"
#include "wire/error_record.hpp"

namespace shmray::common {

shm::ObjectSlot* begin_payload(const Views& v, ObjectId id) noexcept {
  shm::ObjectSlot* s = v.slot(id);
  return s && shm::begin_object_write(*s, id.gen()) ? s : nullptr;
}

void place_inline(shm::ObjectSlot& s, std::span<const std::byte> bytes) noexcept {
  bytes = bytes.first(std::min(bytes.size(), shm::kInlineBytes));
  if (!bytes.empty()) std::memcpy(s.inline_data, bytes.data(), bytes.size());
  s.data = 0;
  s.size = bytes.size();
}

void place_block(shm::ObjectSlot& s, std::uint64_t offset, std::size_t size) noexcept {
  s.data = offset;
  s.size = size;
}

std::uint32_t finish_payload(const Views& v, shm::ObjectSlot& s, shm::ObjectState state) noexcept {
  const shm::ObjectWord old = shm::finish_object_write(s, state);
  // Every object made final after its id was handed out passes here: tell the watchers
  // (as_completed) before the wake, so a watcher woken by the epoch finds its entry.
  if (shm::completion_watched(*v.completions))
    shm::note_completion(*v.completions, v.completion_entries, old.gen, static_cast<std::uint32_t>(&s - v.objects));
  if (old.flags & shm::kObjWaiters) shm::futex_bump_and_wake_all(&v.hot->object_epoch.value);
  return old.flags;
}

bool write_payload(const Views& v, ObjectId id, shm::ObjectState state, std::span<const std::byte> bytes,
                   BlockSource blocks, std::uint32_t* flags) noexcept {
  shm::ObjectSlot* s = begin_payload(v, id);
  if (!s) return false;
  // From here to finish_payload nothing may throw: the object would stay kObjWriting in a
  // live process, and everyone waiting on it would wait for good. A throw counts as no room.
  const auto allocate = [&](std::size_t n, bool last) noexcept -> std::uint64_t {
    try {
      return blocks.allocate(blocks.ctx, n, last);
    } catch (...) {
      return 0;
    }
  };
  std::uint64_t off = 0;
  std::string shrunk;
  if (bytes.size() > shm::kInlineBytes) off = allocate(bytes.size(), false);
  if (!off && bytes.size() > shm::kInlineBytes && state == shm::ObjectState::kFailed) {
    // No room for the whole error record: cut its message, not the record.
    try {
      shrunk = wire::shrink_error_payload(bytes, wire::kShrunkErrorBytes);
      bytes = std::as_bytes(std::span(shrunk.data(), shrunk.size()));
    } catch (...) {  // no memory for the cut copy: the original, truncated inline below
    }
    if (bytes.size() > shm::kInlineBytes) off = allocate(bytes.size(), true);
  }
  if (off) {
    std::memcpy(v.base + off, bytes.data(), bytes.size());
    place_block(*s, off, bytes.size());
  } else {
    place_inline(*s, bytes);  // no room even for a short record: keep it truncated inline
  }
  const std::uint32_t f = finish_payload(v, *s, state);
  if (flags) *flags = f;
  return true;
}

}  // namespace shmray::common
