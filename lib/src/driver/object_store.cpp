// Driver side of the object store: ids, reference counts, freeing and payload writes.
//
// The driver is the one authority on reference counts: the count lives in the object's
// slot (`refs`, written by the driver only) and counts the driver's own handles, each
// worker's holds (from its Hold/Release messages), objects that contain the ref, tasks that
// pin it as an argument, and the producer pin of a task not finished yet. A worker's
// messages arrive in order and a process can only take a ref from something it holds, so
// a count never reaches zero while some process may still take the ref.
#include <algorithm>
#include <cstring>
#include <iostream>
#include <stdexcept>
#include <string>
#include <thread>

#include "common/checks.hpp"
#include "common/payload_write.hpp"
#include "common/store_space.hpp"
#include "driver/driver.hpp"
#include "shm/futex.hpp"
#include "shmray/errors.hpp"

namespace shmray::driver {

ObjectId Driver::allocate_object_locked() {
  std::uint32_t index;
  if (!free_objects_.empty()) {
    index = free_objects_.back();
    free_objects_.pop_back();
  } else if (object_hwm_ < v_.object_capacity) {
    index = object_hwm_++;
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

void Driver::check_live(ObjectId id) const {
  common::check_live(v_, id);
}

bool Driver::accept_worker_ref_locked(std::uint32_t w, ObjectId id) {
  if (v_.live(id)) return true;
  // A worker checks the same before it reports a ref: this one is forged or garbage. Applying
  // it would count a reference on a free slot (or someone else's object) and later free it
  // under its next owner.
  if (ignored_worker_refs_++ == 0)
    warn("shmray: worker " + std::to_string(workers_[w].pid) + " reported ObjectRef(" + id.hex() +
         "), which names no live object; ignored (further ones are ignored silently)");
  return false;
}

void Driver::add_ref_locked(ObjectId id) {
  shm::ObjectSlot* s = v_.live(id);
  if (s) shm::atom(s->refs).fetch_add(1, std::memory_order_relaxed);
}

void Driver::add_ref(ObjectId id) {
  check_live(id);
  add_ref_locked(id);  // the caller holds a ref to something that holds `id`: no lock needed
}

void Driver::release(ObjectId id) noexcept {
  shm::ObjectSlot* s = v_.live(id);  // never a count on a free slot, whatever the id
  if (!s) return;
  if (shm::atom(s->refs).fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  std::lock_guard lock(mu_);
  free_object_locked(id.index());
}

void Driver::release_locked(ObjectId id) noexcept {
  shm::ObjectSlot* s = v_.live(id);
  if (!s) return;
  if (shm::atom(s->refs).fetch_sub(1, std::memory_order_acq_rel) == 1) free_object_locked(id.index());
}

void Driver::free_object_locked(std::uint32_t index) noexcept {
  // Contained refs are released iteratively: a long chain of containers must not recurse.
  std::vector<std::uint32_t> todo{index};
  while (!todo.empty()) {
    const std::uint32_t i = todo.back();
    todo.pop_back();
    shm::ObjectSlot& s = v_.objects[i];
    if (s.data) free_block_locked(s.data);
    if (auto it = contained_.find(i); it != contained_.end()) {
      for (ObjectId c : it->second) {
        shm::ObjectSlot* cs = v_.slot(c);
        if (cs && shm::atom(cs->refs).fetch_sub(1, std::memory_order_acq_rel) == 1) todo.push_back(c.index());
      }
      contained_.erase(it);
    }
    dependents_.erase(i);
    const shm::ObjectWord old = shm::ObjectWord::unpack(shm::load_acquire(s.state));
    s.data = 0;
    s.size = 0;
    s.producer = 0;
    shm::store_release(s.state, shm::ObjectWord{(old.gen + 1) & 0xffffff, 0, 0}.pack());
    free_objects_.push_back(i);
    --live_objects_;
  }
}

void Driver::free_block_locked(std::uint64_t offset) noexcept {
  const std::uint32_t span = v_.spans.span_of(offset);
  if (span >= v_.spans.count()) return;
  const shm::SpanWord w = v_.spans.word(span);
  if (w.kind == shm::SpanKind::kSmall && w.owner >= 2 && w.owner - 2u < workers_.size()) {
    // A worker's small block goes back to its owner, the only process that edits its lists.
    WorkerEnd& we = workers_[w.owner - 2];
    if (we.control_backlog.empty() && we.control.try_push(kControlFree | offset)) return;
    we.control_backlog.push_back(kControlFree | offset);
    control_backlog_total_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  bool released;
  {
    std::lock_guard lock(heap_mu_);
    released = heap_.free(offset);  // ours, or a large run (freed in the span table, whoever made it)
  }
  shm::HotWords& h = *v_.hot;
  if (released && shm::atom(h.arena_epoch.aux).load(std::memory_order_seq_cst) != 0)
    shm::futex_bump_and_wake_all(&h.arena_epoch.value);
}

std::uint64_t Driver::try_allocate_block(std::size_t bytes) {
  std::lock_guard lock(heap_mu_);
  return heap_.allocate(bytes);
}

std::uint64_t Driver::allocate_block_waiting(std::size_t bytes) {
  return common::allocate_waiting(v_.geo, *v_.hot, bytes, [&] {
    throw_if_closing();  // shutdown() wakes this wait: leave before the store goes
    return try_allocate_block(bytes);
  }, [&] {
    // Frees may wait unprocessed in the event rings; pumping also wakes workers with frees.
    std::unique_lock lock(mu_, std::try_to_lock);
    if (lock.owns_lock()) pump_locked();
  });
}

bool Driver::write_payload_locked(ObjectId obj, shm::ObjectState state, std::span<const std::byte> bytes) {
  // The shared protocol (common/payload_write.hpp); the driver never waits for room here.
  return common::write_payload(v_, obj, state, bytes, [this](std::size_t n, bool) { return try_allocate_block(n); });
}

ObjectId Driver::put(const detail::ValueSource& value) {
  for (ObjectId c : value.contained) check_live(c);
  std::uint64_t off = 0;
  if (value.size > shm::kInlineBytes) {
    off = allocate_block_waiting(value.size);
    try {
      value.write(value.ctx, {v_.base + off, value.size});
    } catch (...) {
      std::lock_guard lock(mu_);
      free_block_locked(off);
      throw;
    }
  }
  std::lock_guard lock(mu_);
  ObjectId id;
  try {
    id = allocate_object_locked();
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
    for (ObjectId c : value.contained) add_ref_locked(c);
    contained_[id.index()].assign(value.contained.begin(), value.contained.end());
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
    id = allocate_object_locked();
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
  for (const WorkerEnd& we : workers_) supplied += we.supplied_objects.size();
  u.objects = live_objects_ - supplied;
  for (std::uint32_t i = 0; i < object_hwm_; ++i) {
    const shm::ObjectSlot& s = v_.objects[i];
    if (s.data && v_.word(s).final()) u.object_bytes += heap_.block_size(s.data);
  }
  u.spans = v_.spans.spans_in_use();
  return u;
}

}  // namespace shmray::driver
