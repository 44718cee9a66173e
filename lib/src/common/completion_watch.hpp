#pragma once
// as_completed()'s side of the completion ring (shm/completion_ring.hpp): which of its ids are
// still open, and a table from an object's slot index to its place in the input, so that an
// entry of the ring costs O(1) and a result O(1), with a full look at the open ids only when
// the ring cannot say (lapped, a writer not done) or every 100 ms without news.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "common/object_wait.hpp"
#include "common/views.hpp"
#include "shmray/detail/runtime_api.hpp"

namespace shmray::detail {

/// One as_completed() watch (detail::CompletionWatch owns it).
struct WatchState {
  explicit WatchState(std::vector<ObjectId> input);

  static constexpr std::uint32_t kNone = ~std::uint32_t{0};
  std::vector<ObjectId> ids;         // in input order
  std::vector<std::uint32_t> open;   // input indexes not returned yet (swap-removal)
  std::vector<ObjectId> open_ids;    // with keep_ids: open[k]'s id (what a task's wait helper walks)
  std::vector<std::uint32_t> where;  // where[i]: i's place in `open`, kNone once returned
  std::vector<std::uint32_t> keys;   // open addressing: slot index ...
  std::vector<std::uint32_t> vals;   // ... -> input index + 1 (0: empty)
  std::uint32_t mask = 0;
  std::uint64_t cursor = 0;             // ring position read up to
  std::uint64_t last_look_ns = 0;       // the last full look, or the last result
  bool marked = false;                  // the open ids carry kObjWaiters (set at the first sleep)
  bool keep_ids = false;                // open_ids is kept (in a worker only: the driver needs none)
  bool indexed = false;                 // open/where are built (at the first look, for what it left open)
  shm::CompletionRing* ring = nullptr;  // set while the watch is registered
  std::uint64_t generation = 0;         // runtime_generation() of the registration

  /// Fills keys/vals (done at the first ring entry to map).
  void build_table();
  /// The input index of the object in slot `index`, or kNone.
  std::uint32_t lookup(std::uint32_t index) const noexcept;
  void remove(std::uint32_t i) noexcept;
  /// Builds open/where with every id open (before the first look only).
  void index_all();
  /// The ids of `open`, kept from now on (indexes all first if need be).
  std::span<const ObjectId> keep_open_ids();
};

}  // namespace shmray::detail

namespace shmray::common {

/// As wait_any for the open ids of `ws`: waits until one is final (or `until`), then appends
/// the input index of those found (ascending) to `found`; returns how many (0 at `until`, or
/// when none is open). The first call registers the watch and looks at all of them once
/// (std::invalid_argument for an id of no live object). The watch ends once none is open or
/// at `until` (a later call registers again).
std::size_t collect_completed(const Views& v, detail::WatchState& ws, detail::Deadline until, WaitHelper& helper,
                              std::vector<std::uint32_t>& found);

/// Unregisters the watch, if registered (in the process and segment it was registered in).
void end_watch(detail::WatchState& ws) noexcept;

}  // namespace shmray::common
