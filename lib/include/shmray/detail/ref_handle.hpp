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

inline void retain(RefHandle* h) noexcept {
  if (h) h->count.fetch_add(1, std::memory_order_relaxed);
}
inline void drop(RefHandle* h) noexcept {
  if (h && h->count.fetch_sub(1, std::memory_order_acq_rel) == 1) release_ref(h);
}

}  // namespace shmray::detail
