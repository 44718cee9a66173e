#pragma once
// Where this process's reference handles (detail::RefHandle) live. Handles are carved from
// large chunks instead of one malloc each: malloc puts a handle among the other small
// allocations of the submit path, so the handles of 20,000 refs made in a row spread over
// megabytes, and every pass over a list of refs (wait's copy of `rest`, dropping the old
// list) misses the cache on each one. In chunks, those 20,000 handles take 480 KiB.
#include "shmray/detail/ref_handle.hpp"

namespace shmray::ref_pool {

/// A handle with one count for `id` of runtime `generation`. Throws std::bad_alloc.
detail::RefHandle* make(detail::ObjectId id, std::uint64_t generation);
/// Gives a handle from make() back (any thread may give back any handle).
void give_back(detail::RefHandle* h) noexcept;

}  // namespace shmray::ref_pool
