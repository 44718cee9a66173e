// Draining what workers and the fork server report. Workers post to their event rings
// without waking anyone unless the driver must act soon (a result other tasks wait for, a
// ring half full, a nested submission); otherwise the next API call, or the event thread's
// periodic look, drains them. The event thread sleeps on the header's doorbell futex.
#include <csignal>
#include <iostream>

#include "driver/driver.hpp"
#include "shm/futex.hpp"

namespace shmray::driver {

namespace {
constexpr auto kHousekeeping = std::chrono::milliseconds(200);
}

bool Driver::events_pending() noexcept {
  for (std::uint32_t w = 0; w < workers_.size(); ++w) {
    shm::RingIndex& r = seg_.worker(w).events;
    if (shm::load_relaxed(r.head) != shm::load_acquire(r.tail)) return true;
    if (!workers_[w].control_backlog.empty()) return true;
  }
  shm::RingIndex& x = seg_.exits_index();
  return shm::load_relaxed(x.head) != shm::load_acquire(x.tail);
}

void Driver::pump_locked() {
  std::vector<ObjectId> scratch;
  for (std::uint32_t w = 0; w < workers_.size(); ++w) {
    WorkerEnd& we = workers_[w];
    if (!we.events.valid() || we.corrupt) continue;
    for (int budget = 4096; budget-- > 0;) {
      shm::MessageReader::Message m;
      const auto st = we.events.peek(m);
      if (st == shm::MessageReader::Status::kEmpty) break;
      if (st == shm::MessageReader::Status::kCorrupt) {
        std::cerr << "shmray: worker " << we.pid << " wrote a corrupt event record; restarting it\n";
        we.corrupt = true;
        if (we.pid > 0) ::kill(we.pid, SIGKILL);
        break;
      }
      handle_message_locked(w, m);
      we.events.pop();
    }
    while (!we.control_backlog.empty() && we.control.try_push(we.control_backlog.front())) we.control_backlog.pop_front();
  }
  while (auto r = exits_.try_pop()) handle_exit_locked(*r);
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
      if (!wire::read_ids(p, p.size() / 8, ids)) return;
      for (ObjectId id : ids) {
        if (!v_.slot(id)) continue;
        add_ref_locked(id);
        ++workers_[w].holds[id.value];
      }
      return;
    }
    case wire::MsgType::kRelease: {
      if (!wire::read_ids(p, p.size() / 8, ids)) return;
      auto& holds = workers_[w].holds;
      for (ObjectId id : ids) {
        auto it = holds.find(id.value);
        if (it == holds.end()) continue;  // never held: ignore rather than free another's object
        if (--it->second == 0) holds.erase(it);
        release_locked(id);
      }
      return;
    }
    default:
      return;  // unknown record types are skipped (forward compatibility within one layout version)
  }
}

void Driver::ring_doorbell() noexcept {
  shm::futex_bump_and_wake_all(&v_.header->doorbell.value);
}

void Driver::event_loop() {
  shm::SegmentHeader& h = *v_.header;
  while (!stopping_.load(std::memory_order_acquire)) {
    {
      std::lock_guard lock(mu_);
      pump_locked();
    }
    const std::uint32_t seen = shm::atom(h.doorbell.value).load(std::memory_order_seq_cst);
    shm::atom(h.doorbell.aux).store(1, std::memory_order_seq_cst);  // "driver sleeping": workers ring
    if (!events_pending() && !stopping_.load(std::memory_order_acquire))
      shm::futex_wait(&h.doorbell.value, seen, kHousekeeping);
    shm::atom(h.doorbell.aux).store(0, std::memory_order_relaxed);
  }
}

}  // namespace shmray::driver
