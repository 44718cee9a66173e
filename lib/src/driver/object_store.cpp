// Driver side of the object store: the RuntimeApi entry points for objects and blocks, and
// the compositions that free them (ObjectTable owns the state; a worker's small blocks go
// back to that worker through the WorkerPool).
#include <stdexcept>
#include <string>

#include "common/checks.hpp"
#include "common/payload_write.hpp"
#include "common/store_space.hpp"
#include "driver/driver.hpp"
#include "shmray/errors.hpp"

namespace shmray::driver {

bool Driver::accept_worker_ref_locked(std::uint32_t w, ObjectId id) {
  return objects_.accept_worker_ref_locked(pool_[w].pid, id);
}

void Driver::add_contained_locked(std::uint32_t w, ObjectId container, std::span<const ObjectId> refs) {
  if (refs.empty()) return;
  objects_.pin_worker_refs_locked(pool_[w].pid, refs, objects_.contained_locked(container));
}

void Driver::add_ref(ObjectId id) {
  objects_.check_live(id);
  objects_.add_ref_locked(id);  // the caller holds a ref to something that holds `id`: no lock needed
}

void Driver::release(ObjectId id) noexcept {
  if (!objects_.drop_ref(id)) return;
  std::lock_guard lock(mu_);
  free_object_locked(id.index());
  if (actors_.any_unreferenced()) settle_actors_locked();  // the driver's last handle went: as release_locked
}

void Driver::release_locked(ObjectId id) noexcept {
  if (!objects_.drop_ref(id)) return;
  free_object_locked(id.index());
  if (actors_.any_unreferenced()) settle_actors_locked();  // an actor's last handle went
}

void Driver::free_object_locked(std::uint32_t index) noexcept {
  struct Hooks final : ObjectTable::FreeHooks {
    Driver& d;
    explicit Hooks(Driver& driver) : d(driver) {}
    void free_block_locked(std::uint64_t offset) noexcept override { d.free_block_locked(offset); }
    void object_freed_locked(std::uint32_t i) noexcept override {
      d.tasks_.forget_object(i);
      d.actors_.note_freed(i);
    }
  } hooks(*this);
  objects_.free_object_locked(index, hooks);
}

void Driver::free_block_locked(std::uint64_t offset) noexcept {
  if (!pool_.return_worker_block_locked(offset)) objects_.free_heap_block(offset);
}

std::uint64_t Driver::allocate_block_waiting(std::size_t bytes) {
  return common::allocate_waiting(
      v_.geo, *v_.hot, bytes,
      [&] {
        throw_if_closing();  // shutdown() wakes this wait: leave before the store goes
        return objects_.try_allocate_block(bytes);
      },
      [&] {
        // Frees may wait unprocessed in the event rings; pumping also wakes workers with frees.
        // Taken, not tried: a pump running in another thread may be applying those very frees,
        // and with no time left to wait the next look is the last one. No caller holds mu_.
        std::lock_guard lock(mu_);
        pump_locked();
      });
}

ObjectId Driver::put(const detail::ValueSource& value) {
  common::check_all_live(v_, value.contained);
  const std::uint64_t off = common::write_value_block(
      v_, value, [&](std::size_t n) { return allocate_block_waiting(n); },
      [&](std::uint64_t o) {
        std::lock_guard lock(mu_);
        free_block_locked(o);
      });
  std::lock_guard lock(mu_);
  ObjectId id;
  try {
    id = objects_.allocate_object_locked();
  } catch (...) {
    if (off) free_block_locked(off);
    throw;
  }
  shm::ObjectSlot& s = v_.objects[id.index()];
  if (off) {
    s.data = off;
  } else if (value.size) {
    try {
      value.write(value.ctx, {s.inline_data, value.size});
    } catch (...) {
      free_object_locked(id.index());  // never published: nobody else knows the id
      throw;
    }
  }
  s.size = value.size;
  if (!value.contained.empty()) {
    for (ObjectId c : value.contained) objects_.add_ref_locked(c);
    objects_.contained_locked(id).assign(value.contained.begin(), value.contained.end());
  }
  shm::store_release(s.state, shm::ObjectWord{id.gen(), std::uint8_t(shm::ObjectState::kReady), 0}.pack());
  return id;
}

std::uint64_t Driver::allocate_block(std::size_t bytes, void** at) {
  const std::uint64_t off = allocate_block_waiting(bytes);
  *at = v_.base + off;
  return off;
}

void Driver::free_block(std::uint64_t offset) noexcept {
  if (!v_.arena_bytes(offset, 1)) return;
  std::lock_guard lock(mu_);
  free_block_locked(offset);
}

ObjectId Driver::put_block(const detail::ValueBlock& block) {
  if (!v_.arena_bytes(block.offset, block.size)) throw std::invalid_argument("shmray::put: not a block of this store");
  std::lock_guard lock(mu_);
  ObjectId id;
  try {
    id = objects_.allocate_object_locked();
  } catch (...) {
    free_block_locked(block.offset);
    throw;
  }
  shm::ObjectSlot& s = v_.objects[id.index()];
  s.data = block.offset;
  s.size = block.size;
  shm::store_release(s.state, shm::ObjectWord{id.gen(), std::uint8_t(shm::ObjectState::kReady), 0}.pack());
  return id;
}

Usage Driver::usage() {
  std::lock_guard lock(mu_);
  pump_locked();
  Usage u;
  std::size_t supplied = 0;  // handed to workers for their own submissions: not the user's objects
  for (std::uint32_t w = 0; w < pool_.size(); ++w) supplied += pool_[w].supplied_objects.size();
  u.objects = objects_.live_objects_locked() - supplied;
  u.object_bytes = objects_.final_object_bytes_locked();
  u.spans = v_.spans.spans_in_use();
  return u;
}

}  // namespace shmray::driver
