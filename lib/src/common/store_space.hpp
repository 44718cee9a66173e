#pragma once
// Waiting for room in the store, the same in the driver and in workers: try; if that fails,
// nudge whoever may hold frees not yet given back (once even with no time left to wait);
// sleep on arena_epoch (bumped when spans are freed, announced through its aux counter) and
// try again until the store_full_timeout.
#include <algorithm>
#include <cstdint>

#include "common/checks.hpp"
#include "shm/atomics.hpp"
#include "shm/futex.hpp"
#include "shm/layout.hpp"

namespace shmray::common {

/// `try_allocate()` returns an arena offset or 0; `nudge()` runs before each sleep.
template <class TryAllocate, class Nudge>
std::uint64_t allocate_waiting(const shm::SegmentHeader& geo, shm::HotWords& h, std::size_t bytes,
                               TryAllocate&& try_allocate, Nudge&& nudge) {
  if (bytes > geo.arena_bytes) throw_larger_than_store(bytes, geo.arena_bytes);
  const std::uint64_t start = shm::now_ns();
  const std::uint64_t deadline = start + std::min(geo.store_full_timeout_ns, ~std::uint64_t{0} - start);  // saturates
  for (bool nudged = false;; nudged = true) {
    const std::uint32_t seen = shm::atom(h.arena_epoch.value).load(std::memory_order_seq_cst);
    if (const std::uint64_t off = try_allocate()) return off;
    const std::uint64_t now = shm::now_ns();
    if (now >= deadline) {
      // Out of time (a zero store_full_timeout: at once), but look again once after a nudge:
      // frees already reported and not yet applied (releases in the event rings) are room
      // that needs no waiting.
      if (nudged) throw_no_room(bytes, geo.arena_bytes, geo.store_full_timeout_ns);
      nudge();
      continue;
    }
    shm::atom(h.arena_epoch.aux).fetch_add(1, std::memory_order_seq_cst);
    nudge();
    // Bounded: a safety net, the epoch bump is what wakes us.
    shm::futex_wait(&h.arena_epoch.value, seen,
                    std::chrono::nanoseconds(std::min<std::uint64_t>(deadline - now, 20'000'000)));
    shm::atom(h.arena_epoch.aux).fetch_sub(1, std::memory_order_seq_cst);
  }
}

}  // namespace shmray::common
