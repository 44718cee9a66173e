#pragma once
// The driver's part of the object store: which object slots are free, reference counts,
// the refs an object contains, payload writes, and the driver's arena heap.
//
// The driver is the one authority on reference counts: the count lives in the object's
// slot (`refs`, written by the driver only) and counts the driver's own handles, each
// worker's holds (from its Hold/Release messages), objects that contain the ref, tasks that
// pin it as an argument, and the producer pin of a task not finished yet. A worker's
// messages arrive in order and a process can only take a ref from something it holds, so
// a count never reaches zero while some process may still take the ref.
//
// Methods named *_locked: the caller holds Driver::mu_. The heap has a lock of its own
// (heap_mu_, taken after mu_), so try_allocate_block and free_heap_block need no mu_.
#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <span>
#include <unordered_map>
#include <vector>

#include "common/views.hpp"
#include "shm/heap.hpp"
#include "shmray/detail/runtime_api.hpp"

namespace shmray::driver {

using detail::ObjectId;

class ObjectTable {
 public:
  /// What freeing an object needs from the rest of the driver.
  class FreeHooks {
   public:
    /// Frees one arena block (a worker's small block goes back to that worker).
    virtual void free_block_locked(std::uint64_t offset) noexcept = 0;
    /// Object slot `index` is free now: forget tasks that waited for it.
    virtual void object_freed_locked(std::uint32_t index) noexcept = 0;

   protected:
    ~FreeHooks() = default;
  };

  ObjectTable(common::Views& v, std::uint32_t session);

  /// A pending object with one reference; throws ObjectStoreFullError when the table is full.
  ObjectId allocate_object_locked();
  void check_live(ObjectId id) const;  // no lock: throws when `id` names no live object
  /// Whether an id worker `pid` reported names a live object; counts (and logs once) those that do not.
  bool accept_worker_ref_locked(pid_t pid, ObjectId id);
  /// Takes a reference on each of `ids` (from worker `pid`) that accept_worker_ref_locked
  /// accepts and appends it to `pins`; returns how many it took. The one way ids a worker sent
  /// enter the driver's state: nothing downstream (watch lists, refcounts) sees a forged one.
  std::size_t pin_worker_refs_locked(pid_t pid, std::span<const ObjectId> ids, std::vector<ObjectId>& pins);
  void add_ref_locked(ObjectId id);
  /// Drops one reference (no lock needed); true when it was the last: free it with mu_ held.
  bool drop_ref(ObjectId id) noexcept;
  /// Frees the object and, iteratively, the contained objects whose last ref it held.
  void free_object_locked(std::uint32_t index, FreeHooks& hooks) noexcept;
  /// The refs object `container` holds (created on first use).
  std::vector<ObjectId>& contained_locked(ObjectId container) { return contained_[container.index()]; }
  bool write_payload_locked(ObjectId obj, shm::ObjectState state, std::span<const std::byte> bytes);

  std::uint64_t try_allocate_block(std::size_t bytes);  // 0 when no space now; takes heap_mu_
  /// A block of the driver's heap, or a large run (freed in the span table, whoever made it).
  void free_heap_block(std::uint64_t offset) noexcept;  // takes heap_mu_
  /// Worker `slot` died: its spans become the driver's; blocks of final objects stay.
  void adopt_worker_spans_locked(std::uint32_t slot);

  std::size_t live_objects_locked() const { return live_objects_; }
  std::size_t final_object_bytes_locked();
  /// Object slots ever used (the high-water mark); any thread, no lock (observe.hpp).
  std::uint32_t hwm_relaxed() const noexcept { return hwm_seen_.load(std::memory_order_relaxed); }

 private:
  common::Views& v_;
  const std::uint32_t session_;

  std::mutex heap_mu_;  // guards heap_ (lock order: Driver::mu_ before heap_mu_)
  shm::Heap heap_;

  std::vector<std::uint32_t> free_objects_;
  std::uint32_t object_hwm_ = 0;
  std::atomic<std::uint32_t> hwm_seen_{0};  // object_hwm_, for readers without the lock
  std::size_t live_objects_ = 0;
  std::unordered_map<std::uint32_t, std::vector<ObjectId>> contained_;  // object index -> refs it holds
  std::uint64_t ignored_worker_refs_ = 0;                               // ids from workers that named no live object
};

}  // namespace shmray::driver
