// WorkerPool, per worker slot: rings, spawning, deaths, returned blocks, supply wants,
// corrupt workers, waking sleepers. The fork server itself is in worker_pool.cpp.
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string>

#include "driver/warn.hpp"
#include "driver/worker_pool.hpp"
#include "shm/futex.hpp"
#include "wire/fork_protocol.hpp"

namespace shmray::driver {

namespace {
// A slot whose fork failed (after the fork server's own backoff) is tried again this late.
constexpr auto kRespawnDelay = std::chrono::seconds(1);
// Queued work no worker claimed for this long while one sleeps: wake a sleeper anyway.
constexpr std::uint64_t kStallNs = 2'000'000;
}  // namespace

void WorkerPool::reset_worker_rings(std::uint32_t slot) {
  shm::WorkerControl& c = seg_.worker(slot);
  const shm::SegmentHeader& h = v_.geo;
  shm::store_relaxed(c.events.head, std::uint64_t{0});
  shm::store_relaxed(c.events.tail, std::uint64_t{0});
  shm::store_relaxed(c.control.head, std::uint64_t{0});
  shm::store_relaxed(c.control.tail, std::uint64_t{0});
  WorkerEnd& we = workers_[slot];
  we.events = shm::MessageReader(&c.events, seg_.event_buffer(slot), h.event_ring_bytes);
  we.control = shm::SpscProducer<std::uint64_t>(&c.control, seg_.control_entries(slot), h.control_ring_entries);
  control_backlog_total_.fetch_sub(we.control_backlog.size(), std::memory_order_relaxed);
  we.control_backlog.clear();
  we.corrupt = false;
  we.joining.clear();
}

void WorkerPool::init_slots(std::uint32_t first) {
  workers_.resize(v_.geo.max_workers);
  for (std::uint32_t s = 0; s < workers_.size(); ++s) reset_worker_rings(s);
  for (std::uint32_t s = 0; s < first; ++s) {
    shm::WorkerControl& c = seg_.worker(s);
    c.incarnation = workers_[s].incarnation = 1;
    c.state = std::uint32_t(shm::WorkerState::kStarting);
    workers_[s].alive = true;
  }
}

bool WorkerPool::first_workers_ready(std::uint32_t n) const {
  std::uint32_t ready = 0;
  for (std::uint32_t s = 0; s < n; ++s)
    ready += shm::load_acquire(seg_.worker(s).state) != std::uint32_t(shm::WorkerState::kStarting);
  return ready == n;
}

void WorkerPool::prepare_spawn_locked(std::uint32_t slot) {
  shm::WorkerControl& c = seg_.worker(slot);
  reset_worker_rings(slot);
  WorkerEnd& we = workers_[slot];
  we.incarnation += 1;
  we.alive = true;
  we.pid = 0;
  c.pid = 0;
  c.depth = 0;
  c.current_task = 0;
  c.wants_supply = 0;
  c.kill_pending = 0;
  c.more_control = 0;
  c.log_seq = 0;  // no task name: the last process's would label the new one's first lines
  std::memset(c.log_label, 0, sizeof c.log_label);
  shm::store_release(c.incarnation, we.incarnation);
  shm::store_release(c.state, std::uint32_t(shm::WorkerState::kStarting));
}

void WorkerPool::queue_spawn_locked(std::uint32_t slot) {
  requests_.push_back(std::uint64_t{wire::kSpawn} << 32 | slot);
  send_requests_locked();
}

bool WorkerPool::current_exit_locked(const shm::ExitReport& r) const {
  // A report about an earlier process of the slot is stale.
  return r.slot < workers_.size() && r.incarnation == workers_[r.slot].incarnation && workers_[r.slot].alive;
}

void WorkerPool::mark_dead_locked(std::uint32_t slot) {
  WorkerEnd& we = workers_[slot];
  we.alive = false;
  if (we.pidfd >= 0) ::close(we.pidfd);
  we.pidfd = -1;
  shm::store_release(seg_.worker(slot).state, std::uint32_t(shm::WorkerState::kDead));
  v_.spinning.clear(slot);  // it may have died idle: its bits must not look like a live idle worker
  v_.sleeping.clear(slot);
}

void WorkerPool::retry_fork_later_locked(std::uint32_t slot) {
  workers_[slot].respawn_pending = true;
  workers_[slot].respawn_at = std::chrono::steady_clock::now() + kRespawnDelay;
}

WorkerPool::AfterExit WorkerPool::after_exit_locked(const shm::ExitReport& r, bool stopping) {
  // A worker started while others were blocked is not replaced; a regular one is.
  WorkerEnd& we = workers_[r.slot];
  if (we.extra) {
    we.extra = false;
    shm::store_relaxed(seg_.worker(r.slot).extra, 0u);
  } else if (is_fork_failure(r)) {
    // No worker came: try this slot again later; with no regular worker left at all, queued
    // tasks would wait forever: the caller fails them, and later submissions, with the errno.
    retry_fork_later_locked(r.slot);
    bool any = false;
    for (std::uint32_t s = 0; s < v_.geo.num_workers; ++s) any = any || workers_[s].alive;
    if (!any) return AfterExit::kNoWorkerLeft;
  } else if (!stopping && broken_.empty()) {
    return AfterExit::kRespawn;
  }
  return AfterExit::kNothing;
}

bool WorkerPool::return_worker_block_locked(std::uint64_t offset) {
  const std::uint32_t span = v_.spans.span_of(offset);
  if (span >= v_.spans.count()) return true;  // not a block at all: nothing to free
  const shm::SpanWord w = v_.spans.word(span);
  if (!(w.kind == shm::SpanKind::kSmall && w.owner >= 2 && w.owner - 2u < workers_.size())) return false;
  // A worker's small block goes back to its owner, the only process that edits its lists.
  WorkerEnd& we = workers_[w.owner - 2];
  if (we.control_backlog.empty() && we.control.try_push(kControlFree | offset)) return true;
  we.control_backlog.push_back(kControlFree | offset);
  control_backlog_total_.fetch_add(1, std::memory_order_relaxed);
  note_control_backlog(w.owner - 2u);
  return true;
}

void WorkerPool::flush_control_backlog_locked(std::uint32_t w) {
  WorkerEnd& we = workers_[w];
  if (we.control_backlog.empty()) return;
  while (!we.control_backlog.empty() && we.control.try_push(we.control_backlog.front())) {
    we.control_backlog.pop_front();
    control_backlog_total_.fetch_sub(1, std::memory_order_relaxed);
  }
  if (!we.control_backlog.empty()) note_control_backlog(w);
}

void WorkerPool::note_control_backlog(std::uint32_t w) noexcept {
  // The worker clears it and rings the doorbell once its ring is drained: the rest then goes
  // at once, not at the next pump something else causes (an actor's next calls, frees).
  shm::atom(seg_.worker(w).more_control).store(1u, std::memory_order_seq_cst);
}

bool WorkerPool::wants_supply_locked(std::uint32_t w) const {
  const WorkerEnd& we = workers_[w];
  return we.alive && (we.supplied_objects.size() < kSupplyObjects / 2 || we.supplied_tasks.size() < kSupplyTasks / 2 ||
                      shm::load_relaxed(seg_.worker(w).wants_supply));
}

void WorkerPool::corrupt_locked(std::uint32_t w, const char* what) {
  WorkerEnd& we = workers_[w];
  warn("shmray: worker " + std::to_string(we.pid) + " wrote " + what + "; restarting it");
  we.corrupt = true;
  we.joining.clear();
  kill_locked(w);
}

void WorkerPool::push_control_locked(std::uint32_t w, std::uint64_t entry) {
  // In order: behind what waits in the backlog already.
  WorkerEnd& we = workers_[w];
  if (we.control_backlog.empty() && we.control.try_push(entry)) return;
  we.control_backlog.push_back(entry);
  control_backlog_total_.fetch_add(1, std::memory_order_relaxed);
  note_control_backlog(w);
}

void WorkerPool::kill_locked(std::uint32_t w) {
  WorkerEnd& we = workers_[w];
  // Exactly that process: its pidfd, else a pid checked to be a child of our fork server.
  if (we.pidfd >= 0) {
    ::syscall(SYS_pidfd_send_signal, we.pidfd, SIGKILL, nullptr, 0);
  } else if (const pid_t pid = worker_pid(w); pid > 0) {
    ::kill(pid, SIGKILL);
  }
}

void WorkerPool::wake_owners_of_frees_locked() noexcept {
  // A sleeping worker only drains its control ring when woken: blocks the driver freed for
  // it would stay reserved while it idles. Every pump (at the latest the event thread's
  // periodic one, at once when someone waits for space) wakes those that have some.
  for (std::uint32_t w = 0; w < workers_.size(); ++w) {
    if (!workers_[w].alive) continue;
    shm::WorkerControl& c = seg_.worker(w);
    if (shm::load_acquire(c.control.tail) != shm::load_acquire(c.control.head)) shm::wake_if_sleeping(c);
  }
}

bool WorkerPool::unstall_dispatch() noexcept {
  // Submitters skip the wake-up while a worker spins, and a wake-up can land on a stopped
  // sleeper: a single stopped or stalled worker would then keep queued work waiting with the
  // rest of the pool asleep. Whatever the reason, queued work that no worker claimed for
  // kStallNs while some worker sleeps wakes one sleeper (one that is really asleep). The
  // sleepers are found by their state words, not the idle bits, which a task could clear.
  v_.dispatch.skip_dead();
  bool any_sleeping = false;
  for (std::uint32_t w = 0; w < v_.geo.pool_slots && !any_sleeping && !v_.dispatch.empty(); ++w)
    any_sleeping = shm::load_acquire(seg_.worker(w).state) == std::uint32_t(shm::WorkerState::kSleeping);
  if (!any_sleeping) {
    stall_since_ns_ = 0;
    return false;
  }
  const std::uint64_t head = v_.dispatch.head(), now = shm::now_ns();
  if (stall_since_ns_ == 0 || head != stall_head_) {
    stall_head_ = head;
    stall_since_ns_ = now;
  } else if (now - stall_since_ns_ >= kStallNs) {
    for (std::uint32_t w = 0; w < v_.geo.pool_slots; ++w)
      if (shm::wake_if_sleeping(seg_.worker(w))) break;
    stall_since_ns_ = now;
  }
  return true;
}

bool WorkerPool::pick_extra_slot_locked(std::uint32_t& slot) {
  for (std::uint32_t s = v_.geo.num_workers; s < v_.geo.pool_slots; ++s) {
    if (workers_[s].alive) continue;
    workers_[s].extra = true;
    shm::store_relaxed(seg_.worker(s).extra, 1u);
    slot = s;
    return true;
  }
  return false;
}

}  // namespace shmray::driver
