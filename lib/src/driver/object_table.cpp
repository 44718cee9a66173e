// ObjectTable: object ids, reference counts, freeing, payload writes, the driver's heap.
#include "driver/object_table.hpp"

#include <algorithm>
#include <cstring>
#include <string>

#include "common/checks.hpp"
#include "common/payload_write.hpp"
#include "driver/warn.hpp"
#include "shm/futex.hpp"
#include "shmray/errors.hpp"
#include "wire/error_record.hpp"

namespace shmray::driver {

ObjectTable::ObjectTable(common::Views& v, std::uint32_t session)
    : v_(v), session_(session), heap_(v_.spans, shm::kOwnerDriver) {}

ObjectId ObjectTable::allocate_object_locked() {
  std::uint32_t index;
  if (!free_objects_.empty()) {
    index = free_objects_.back();
    free_objects_.pop_back();
  } else if (object_hwm_ < v_.object_capacity) {
    index = object_hwm_++;
    hwm_seen_.store(object_hwm_, std::memory_order_relaxed);
  } else {
    throw ObjectStoreFullError("shmray: the object table is full (" + std::to_string(v_.object_capacity) +
                               " slots, including those kept ready for tasks that submit tasks); drop "
                               "ObjectRefs you no longer need, or init() with a larger object_store_bytes (the "
                               "table scales with it)");
  }
  shm::ObjectSlot& s = v_.objects[index];
  const shm::ObjectWord old = shm::ObjectWord::unpack(s.state);
  s.producer = 0;
  s.data = 0;
  s.size = 0;
  shm::store_relaxed(s.refs, 1u);
  shm::store_release(s.state, shm::ObjectWord{old.gen, std::uint8_t(shm::ObjectState::kPending), 0}.pack());
  ++live_objects_;
  return ObjectId::make(session_, old.gen, index);
}

void ObjectTable::check_live(ObjectId id) const { common::check_live(v_, id); }

bool ObjectTable::accept_worker_ref_locked(pid_t pid, ObjectId id) {
  if (v_.live(id)) return true;
  // A worker checks the same before it reports a ref: this one is forged or garbage. Applying
  // it would count a reference on a free slot (or someone else's object) and later free it
  // under its next owner.
  if (ignored_worker_refs_++ == 0)
    warn("shmray: worker " + std::to_string(pid) + " reported ObjectRef(" + id.hex() +
         "), which names no live object; ignored (further ones are ignored silently)");
  return false;
}

std::size_t ObjectTable::pin_worker_refs_locked(pid_t pid, std::span<const ObjectId> ids, std::vector<ObjectId>& pins) {
  std::size_t taken = 0;
  for (ObjectId id : ids)
    if (accept_worker_ref_locked(pid, id)) add_ref_locked(id), pins.push_back(id), ++taken;
  return taken;
}

void ObjectTable::add_ref_locked(ObjectId id) {
  shm::ObjectSlot* s = v_.live(id);
  if (s) shm::atom(s->refs).fetch_add(1, std::memory_order_relaxed);
}

bool ObjectTable::drop_ref(ObjectId id) noexcept {
  shm::ObjectSlot* s = v_.live(id);  // never a count on a free slot, whatever the id
  return s && shm::atom(s->refs).fetch_sub(1, std::memory_order_acq_rel) == 1;
}

void ObjectTable::free_object_locked(std::uint32_t index, FreeHooks& hooks) noexcept {
  // Contained refs are released iteratively: a long chain of containers must not recurse.
  std::vector<std::uint32_t> todo{index};
  while (!todo.empty()) {
    const std::uint32_t i = todo.back();
    todo.pop_back();
    shm::ObjectSlot& s = v_.objects[i];
    if (s.data) hooks.free_block_locked(s.data);
    if (auto it = contained_.find(i); it != contained_.end()) {
      for (ObjectId c : it->second) {
        shm::ObjectSlot* cs = v_.slot(c);
        if (cs && shm::atom(cs->refs).fetch_sub(1, std::memory_order_acq_rel) == 1) todo.push_back(c.index());
      }
      contained_.erase(it);
    }
    hooks.object_freed_locked(i);
    const shm::ObjectWord old = shm::ObjectWord::unpack(shm::load_acquire(s.state));
    s.data = 0;
    s.size = 0;
    s.producer = 0;
    shm::store_release(s.state, shm::ObjectWord{(old.gen + 1) & 0xffffff, 0, 0}.pack());
    free_objects_.push_back(i);
    --live_objects_;
  }
}

bool ObjectTable::write_payload_locked(ObjectId obj, shm::ObjectState state, std::span<const std::byte> bytes) {
  // The shared protocol (common/payload_write.hpp); the driver never waits for room here.
  return common::write_payload(v_, obj, state, bytes, [this](std::size_t n, bool) { return try_allocate_block(n); });
}

std::uint64_t ObjectTable::try_allocate_block(std::size_t bytes) {
  std::lock_guard lock(heap_mu_);
  return heap_.allocate(bytes);
}

void ObjectTable::free_heap_block(std::uint64_t offset) noexcept {
  bool released;
  {
    std::lock_guard lock(heap_mu_);
    released = heap_.free(offset);  // ours, or a large run (freed in the span table, whoever made it)
  }
  shm::HotWords& h = *v_.hot;
  if (released && shm::atom(h.arena_epoch.aux).load(std::memory_order_seq_cst) != 0)
    shm::futex_bump_and_wake_all(&h.arena_epoch.value);
}

void ObjectTable::adopt_worker_spans_locked(std::uint32_t slot) {
  // Its arena spans: keep the blocks of live objects, free the rest.
  std::vector<std::uint64_t> live;
  for (std::uint32_t i = 0; i < object_hwm_; ++i) {
    const shm::ObjectSlot& s = v_.objects[i];
    if (s.data && v_.word(s).final()) live.push_back(s.data);
  }
  {
    std::lock_guard lock(heap_mu_);
    heap_.adopt_owner(shm::owner_of_worker(slot), live);
  }
  shm::futex_bump_and_wake_all(&v_.hot->arena_epoch.value);
}

std::size_t ObjectTable::final_object_bytes_locked() {
  std::size_t bytes = 0;
  for (std::uint32_t i = 0; i < object_hwm_; ++i) {
    const shm::ObjectSlot& s = v_.objects[i];
    if (s.data && v_.word(s).final()) bytes += heap_.block_size(s.data);
  }
  return bytes;
}

}  // namespace shmray::driver
