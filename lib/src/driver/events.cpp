// Draining what workers and the fork server report. Workers post to their event rings
// without waking anyone unless the driver must act soon (a result other tasks wait for, a
// ring half full, a nested submission); otherwise the next API call, or the event thread's
// periodic look, drains them. The event thread sleeps on the header's doorbell futex.
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <iostream>

#include "common/checks.hpp"
#include "driver/driver.hpp"
#include "shm/futex.hpp"

namespace shmray::driver {

namespace {
constexpr auto kHousekeeping = std::chrono::milliseconds(200);
constexpr auto kStallCheck = std::chrono::milliseconds(1);  // while queued work waits with a worker asleep
}  // namespace

// A finished task's records are drained by its TaskDone (complete_task_locked), a dead worker's
// at its reap, everything before a dump: a pass only needs to keep a ring from filling with
// the records of tasks still running (retries). The driver passes about a dozen times per task
// on a busy pool, and each look reads the worker's tail (its cache line, a miss per look), so
// only every kTimelinePumpEvery-th pass looks.
constexpr std::uint32_t kTimelinePumpEvery = 16;

void Driver::pump_locked() {
  const bool timeline = timeline_.on() && ++timeline_passes_ % kTimelinePumpEvery == 0;
  for (std::uint32_t w = 0; w < pool_.size(); ++w) {
    if (!pool_[w].events.valid() || pool_[w].corrupt) continue;  // corrupt: killed, its exit report cleans up
    drain_events_locked(w);  // first: a task a worker submitted is adopted before its records are read
    if (timeline) drain_timeline_locked(w);
    pool_.flush_control_backlog_locked(w);
    if (pool_.wants_supply_locked(w)) supply_locked(w);
  }
  while (auto r = pool_.pop_exit()) handle_exit_locked(*r);
  // Room may have come back without a task's end (a put dropped, a worker's release): the
  // backlog is retried here too, or with no task running it would wait for good.
  if (!tasks_.backlog_empty()) drain_backlog_locked();
  maybe_grow_locked();
  pool_.wake_owners_of_frees_locked();
}

void Driver::drain_events_locked(std::uint32_t w) {
  WorkerEnd& we = pool_[w];
  for (int budget = 4096; budget-- > 0 && !we.corrupt;) {
    shm::MessageReader::Message m;
    const auto st = we.events.peek(m);
    if (st == shm::MessageReader::Status::kEmpty) break;
    if (st == shm::MessageReader::Status::kCorrupt) {
      pool_.corrupt_locked(w, "a corrupt event record");
      break;
    }
    if (take_message_locked(w, m)) we.events.pop();
  }
}

bool Driver::take_message_locked(std::uint32_t w, const shm::MessageReader::Message& m) {
  WorkerEnd& we = pool_[w];
  if (!(m.flags & shm::kMessageMore) && we.joining.empty()) {
    handle_message_locked(w, m);
    return true;
  }
  // A piece of a message larger than one record. No legitimate message is larger than its ids
  // (each one also in a value or descriptor in the arena), twice over, plus a task name.
  const std::uint64_t limit = 2 * v_.geo.arena_bytes + common::kMaxTaskNameBytes + 4096;
  if ((!we.joining.empty() && m.type != we.joining_type) || we.joining.size() + m.payload.size() > limit) {
    pool_.corrupt_locked(w, "a message that does not join up");
    return false;
  }
  we.joining_type = m.type;
  we.joining.append(reinterpret_cast<const char*>(m.payload.data()), m.payload.size());
  if (m.flags & shm::kMessageMore) return true;
  std::string whole = std::move(we.joining);  // the handler may pump again: take it out first
  we.joining.clear();
  handle_message_locked(w, {m.type, 0, std::as_bytes(std::span(whole.data(), whole.size()))});
  return true;
}

void Driver::handle_message_locked(std::uint32_t w, const shm::MessageReader::Message& m) {
  std::span<const std::byte> p = m.payload;
  std::vector<ObjectId> ids;
  switch (static_cast<wire::MsgType>(m.type)) {
    case wire::MsgType::kTaskDone: {
      auto done = wire::read_front<wire::TaskDone>(p);
      if (!done || !wire::read_ids(p, done->contained, ids)) return;
      complete_task_locked(w, *done, ids);
      return;
    }
    case wire::MsgType::kHold: {
      if (wire::read_ids(p, p.size() / 8, ids)) take_holds_locked(w, ids);
      return;
    }
    case wire::MsgType::kRelease: {
      if (wire::read_ids(p, p.size() / 8, ids)) drop_holds_locked(w, ids);
      return;
    }
    case wire::MsgType::kSubmit: {
      auto h = wire::read_front<wire::SubmitHeader>(p);
      std::vector<ObjectId> contained;
      if (!h || !wire::read_ids(p, h->resolve, ids) || !wire::read_ids(p, h->contained, contained) ||
          p.size() < h->name_size)
        return;
      adopt_worker_task_locked(w, *h, ids, contained,
                               std::string(reinterpret_cast<const char*>(p.data()), h->name_size));
      return;
    }
    case wire::MsgType::kPut: {
      auto h = wire::read_front<wire::PutHeader>(p);
      if (!h || !wire::read_ids(p, h->contained, ids)) return;
      adopt_worker_put_locked(w, ObjectId{h->object}, ids);
      return;
    }
    case wire::MsgType::kCancel: {
      auto c = wire::read_front<wire::CancelRequest>(p);
      if (c && accept_worker_ref_locked(w, ObjectId{c->object}))
        cancel_locked(ObjectId{c->object}, c->force != 0, c->recursive != 0);
      return;
    }
    case wire::MsgType::kActorCall:
    case wire::MsgType::kActorCreate:
    case wire::MsgType::kActorLookup:
    case wire::MsgType::kActorKill: return handle_actor_message_locked(w, static_cast<wire::MsgType>(m.type), p);
    case wire::MsgType::kBlocked: pool_[w].blocked = true; return;
    case wire::MsgType::kUnblocked: pool_[w].blocked = false; return;
    default: return;  // unknown record types are skipped (forward compatibility within one layout version)
  }
}

void Driver::take_holds_locked(std::uint32_t w, std::span<const ObjectId> ids) {
  for (ObjectId id : ids) {
    if (!accept_worker_ref_locked(w, id)) continue;
    objects_.add_ref_locked(id);
    ++pool_[w].holds[id.value];
  }
}

void Driver::drop_holds_locked(std::uint32_t w, std::span<const ObjectId> ids) {
  auto& holds = pool_[w].holds;
  for (ObjectId id : ids) {
    auto it = holds.find(id.value);
    if (it == holds.end()) continue;  // never held: ignore rather than free another's object
    if (--it->second == 0) holds.erase(it);
    release_locked(id);
  }
}

void Driver::adopt_worker_put_locked(std::uint32_t w, ObjectId id, std::span<const ObjectId> contained) {
  WorkerEnd& we = pool_[w];
  auto oi = std::find(we.supplied_objects.begin(), we.supplied_objects.end(), id.index());
  if (oi == we.supplied_objects.end() || !v_.live(id)) return;
  we.supplied_objects.erase(oi);
  ++we.holds[id.value];  // the supply pin becomes the worker's reference
  add_contained_locked(w, id, contained);
}

void Driver::supply_locked(std::uint32_t w) {
  WorkerEnd& we = pool_[w];
  if (!we.alive) return;
  bool pushed = false;
  try {
    while (we.supplied_objects.size() < kSupplyObjects) {
      const ObjectId id = objects_.allocate_object_locked();  // pending, one reference: the supply pin
      if (!we.control.try_push(kControlObject | id.index())) {
        release_locked(id);
        break;
      }
      we.supplied_objects.push_back(id.index());
      pushed = true;
    }
  } catch (const std::exception&) {
    // Object table full: the worker waits for supply like it waits for store space.
  }
  while (we.supplied_tasks.size() < kSupplyTasks && tasks_.free_slots() != 0) {
    const std::uint32_t idx = tasks_.take_free_slot();
    if (!we.control.try_push(kControlTask | idx)) {
      tasks_.give_back_slot(idx);
      break;
    }
    we.supplied_tasks.push_back(idx);
    pushed = true;
  }
  shm::WorkerControl& c = seg_.worker(w);
  if (pushed && shm::load_acquire(c.wants_supply)) {  // it waits on its wake word, awake or not
    shm::atom(c.wake).fetch_add(1, std::memory_order_seq_cst);
    shm::futex_wake(&c.wake, 1);
  }
}

void Driver::reclaim_supply_locked(std::uint32_t w) {
  WorkerEnd& we = pool_[w];
  for (std::uint32_t idx : we.supplied_objects) {
    const shm::ObjectWord ow = v_.word(v_.objects[idx]);
    release_locked(ObjectId::make(session_, ow.gen, idx));  // unused, or used but never reported
  }
  we.supplied_objects.clear();
  for (std::uint32_t idx : we.supplied_tasks) {
    shm::TaskSlot& slot = v_.tasks[idx];
    const shm::TaskWord tw = shm::TaskWord::unpack(shm::load_acquire(slot.state));
    if (tw.state != shm::TaskState::kFree)  // written but never reported: nobody else knows it
      shm::store_release(slot.state, shm::TaskWord{tw.gen + 1, shm::TaskState::kFree, 0, 0}.pack());
    tasks_[idx] = TaskInfo{};
    tasks_.give_back_slot(idx);
  }
  we.supplied_tasks.clear();
}

void Driver::maybe_grow_locked() {
  if (stopping_.load(std::memory_order_acquire) || v_.dispatch.empty() || !pool_.broken().empty()) return;
  std::uint32_t alive = 0, runnable = 0;
  for (std::uint32_t w = 0; w < v_.geo.pool_slots; ++w) {  // actors hold no CPU slot of the pool
    const WorkerEnd& we = pool_[w];
    alive += we.alive;
    runnable += we.alive && !we.blocked && !holds_for_blocked_locked(w);
  }
  // Blocked workers gave their CPU slots back: start another worker, up to max_workers.
  if (runnable >= v_.geo.num_workers || alive >= v_.geo.pool_slots) return;
  if (std::uint32_t s = 0; pool_.pick_extra_slot_locked(s)) request_spawn(s);
}

bool Driver::holds_for_blocked_locked(std::uint32_t w) const {
  // A worker running a hold lends its CPU to a num_cpus > 1 task; when that task's worker is
  // blocked (waiting for a child), the lent CPUs are free for others too, as its own is:
  // else a child needing CPUs could wait for ever behind its parent's holds.
  const std::uint64_t cur = shm::load_relaxed(seg_.worker(w).current_task);
  if (!v_.valid_task_ref(cur)) return false;
  const TaskInfo& h = tasks_[shm::task_ref_index(cur)];
  if (!h.live || !h.hold || h.gen != shm::task_ref_gen(cur)) return false;
  const std::uint64_t main = v_.tasks[shm::task_ref_index(cur)].parent;
  if (!v_.valid_task_ref(main)) return false;
  const shm::TaskWord tw = shm::TaskWord::unpack(shm::load_acquire(v_.tasks[shm::task_ref_index(main)].state));
  if (tw.gen != shm::task_ref_gen(main) || tw.state != shm::TaskState::kClaimed || tw.owner == 0) return false;
  const std::uint32_t owner = tw.owner - 1u;
  return owner < pool_.size() && pool_[owner].blocked;
}

void Driver::ring_doorbell() noexcept { shm::futex_bump_and_wake_all(&v_.hot->doorbell.value); }

void Driver::event_loop() {
  shm::HotWords& h = *v_.hot;
  while (!stopping_.load(std::memory_order_acquire)) {
    // Read before the pass: a ring during it (an earlier task deadline filed by a submit, say)
    // then ends the sleep at once instead of being slept through.
    const std::uint32_t seen = shm::atom(h.doorbell.value).load(std::memory_order_seq_cst);
    std::chrono::nanoseconds sleep{kHousekeeping};
    {
      std::lock_guard lock(mu_);
      pump_locked();
      watch_pool_locked();  // the fork server's death (its pidfd), new workers' pidfds, respawns
      sleep = expire_deadlines_locked(sleep);
    }
    if (pool_.unstall_dispatch()) sleep = std::min<std::chrono::nanoseconds>(sleep, kStallCheck);
    shm::atom(h.doorbell.aux).store(1, std::memory_order_seq_cst);  // "driver sleeping": workers ring
    if (!events_pending() && !stopping_.load(std::memory_order_acquire))
      shm::futex_wait(&h.doorbell.value, seen, sleep);
    shm::atom(h.doorbell.aux).store(0, std::memory_order_relaxed);
  }
}

}  // namespace shmray::driver
