#pragma once
/// @file ref_handle.hpp
/// Process-local reference handle shared by all copies of one ObjectRef: copies only touch
/// this counter; the runtime hears of a reference when the handle is made and when the last
/// copy is gone.
#include <atomic>
#include <cstdint>
#include "shmray/detail/config.hpp"

#include "shmray/detail/object_id.hpp"

namespace shmray::detail {

struct RefHandle {
  std::atomic<std::uint32_t> count{1};
  ObjectId id;
  std::uint64_t runtime = 0;  ///< which init() of this process it belongs to (64 bits: never wraps)
};

/// Wraps an id whose reference the caller already owns (from submit/put).
SHMRAY_API RefHandle* adopt_ref(ObjectId id);
/// Takes a new reference to `id` (deserialized refs); throws if no runtime is running.
SHMRAY_API RefHandle* acquire_ref(ObjectId id);
/// Gives the reference back; no-op for ids of a runtime that was shut down.
SHMRAY_API void release_ref(RefHandle* h) noexcept;
/// The id of a ref of the running runtime; std::invalid_argument for an empty ref or one
/// from before the last shutdown()/init() (it would name someone else's object).
SHMRAY_API ObjectId checked_id(const RefHandle* h, const char* what);
/// For checking many refs in a row without a call each: the generation a ref must carry to
/// pass checked_id (the running runtime's), or 0, which no ref carries, when none may pass
/// (no runtime yet in a process forked from a pool: checked_id says why).
SHMRAY_API std::uint64_t live_generation() noexcept;
/// checked_id(h, what) with `live` from live_generation(): the call only for a ref it refuses.
inline ObjectId checked_id(const RefHandle* h, std::uint64_t live, const char* what) {
  return h && h->runtime == live ? h->id : checked_id(h, what);
}

inline void retain(RefHandle* h) noexcept {
  if (h) h->count.fetch_add(1, std::memory_order_relaxed);
}
inline void drop(RefHandle* h) noexcept {
  if (h && h->count.fetch_sub(1, std::memory_order_acq_rel) == 1) release_ref(h);
}

}  // namespace shmray::detail
