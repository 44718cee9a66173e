// Starting the pool and what a death means: a worker's (its tasks are retried or failed,
// its references released, its arena spans adopted, a replacement requested) and the fork
// server's (every worker of it is gone too; a new fork server starts, or the pool breaks).
// WorkerPool owns the processes and slots; these are the compositions across the parts.
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <iostream>

#include "driver/driver.hpp"
#include "shm/futex.hpp"
#include "shmray/detail/registry.hpp"
#include "shmray/errors.hpp"

namespace shmray::driver {

void Driver::start_pool() {
  const std::uint32_t n = v_.geo.num_workers;
  pool_.init_slots(n);
  for (std::uint32_t s = 0; s < n; ++s) {
    std::lock_guard lock(mu_);
    supply_locked(s);  // slots for tasks submitted inside tasks, ready before it starts
  }
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);  // or the children would print what the driver had buffered, again
  std::vector<std::uint32_t> slots(n);
  for (std::uint32_t s = 0; s < n; ++s) slots[s] = s;
  pool_.start_fork_server(slots);
  wait_first_workers();
  std::lock_guard lock(mu_);
  watch_pool_locked();  // opens the first workers' pidfds
}

void Driver::wait_first_workers() {
  // Wait until every first worker has checked the layout and is ready (they ring the doorbell).
  const std::uint32_t n = v_.geo.num_workers;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  shm::HotWords& h = *v_.hot;
  for (;;) {
    const std::uint32_t seen = shm::atom(h.doorbell.value).load(std::memory_order_seq_cst);
    if (pool_.first_workers_ready(n)) break;
    while (auto r = pool_.pop_exit()) {
      WorkerPool::throw_if_fatal_at_start(*r);
      std::lock_guard lock(mu_);
      handle_exit_locked(*r);
    }
    pool_.throw_if_fork_server_ended();
    if (std::chrono::steady_clock::now() > deadline) throw Error("shmray: workers did not start within 20 s");
    shm::futex_wait(&h.doorbell.value, seen, std::chrono::milliseconds(50));
  }
}

void Driver::request_spawn(std::uint32_t slot) {
  pool_.prepare_spawn_locked(slot);
  supply_locked(slot);
  pool_.queue_spawn_locked(slot);
}

void Driver::watch_pool_locked() {
  // The fork server's death (its pidfd), new workers' pidfds, respawns of failed forks.
  const auto now = std::chrono::steady_clock::now();
  if (pool_.fork_server_died_locked(now)) on_fork_server_death_locked();
  for (std::uint32_t w = 0; w < pool_.size(); ++w) {
    pool_.open_pidfd_locked(w);
    if (!pool_.respawn_due_locked(w, now)) continue;
    if (w >= v_.geo.pool_slots)
      respawn_actor_locked(w);
    else
      request_spawn(w);
  }
  pool_.send_requests_locked();
}

void Driver::handle_exit_locked(const shm::ExitReport& r) {
  if (!pool_.current_exit_locked(r)) return;  // a report about an earlier process of the slot
  drain_dead_worker_locked(r.slot);
  std::vector<TimelineEvent> ended = end_timeline_locked(r.slot, shm::now_ns());  // its last task ends now
  pool_.mark_dead_locked(r.slot);
  recover_tasks_locked(r);
  if (!ended.empty()) timeline_.crashed_locked(std::move(ended), tasks_);
  reclaim_supply_locked(r.slot);  // slots it was given for its own submissions and did not report using
  pool_[r.slot].blocked = false;
  release_worker_holds_locked(r.slot);
  objects_.adopt_worker_spans_locked(r.slot);
  replace_worker_locked(r);
}

void Driver::drain_dead_worker_locked(std::uint32_t slot) {
  // What it posted before dying is whole (records are published only complete): take it.
  WorkerEnd& we = pool_[slot];
  if (we.corrupt) return;
  for (;;) {
    shm::MessageReader::Message m;
    if (we.events.peek(m) != shm::MessageReader::Status::kMessage) break;
    handle_message_locked(slot, m);
    we.events.pop();
  }
}

void Driver::recover_tasks_locked(const shm::ExitReport& r) {
  // Its tasks: finished ones are finished; a half-written result is discarded; the rest is
  // retried while retries are left, else fails with WorkerCrashedError.
  //
  // Inline execution must be invisible: a child run inline takes its parent's process down
  // when it crashes, which would not happen to a child run in a worker of its own. So only
  // the task that ran (current_task, the top of the worker's stack) is charged an attempt;
  // those under it (they only waited for it) run again free of charge, flagged
  // kTaskNoInline so that their new run leaves its children to other workers: the child is
  // then retried in a worker of its own and the parent gets its value, or its
  // WorkerCrashedError once its retries are spent. The parent's code thus runs more than
  // once (at least once semantics, as for any retried task). A flagged task that inlined
  // after all (no worker could be started) is charged like any other: retries stay bounded.
  // A worker force-cancelled (kill_pending names its outermost task, cancel.cpp) did not
  // crash: nothing of it is charged.
  const std::uint16_t owner = static_cast<std::uint16_t>(r.slot + 1);
  const shm::WorkerControl& wc = seg_.worker(r.slot);
  const std::uint64_t top = shm::load_acquire(wc.current_task), kill = shm::load_acquire(wc.kill_pending);
  const bool cancel_kill = kill != 0 && kill == shm::load_acquire(wc.bottom_task);
  bool top_known = false;
  if (v_.valid_task_ref(top)) {
    const shm::TaskWord t = shm::TaskWord::unpack(shm::load_acquire(v_.tasks[shm::task_ref_index(top)].state));
    top_known = t.gen == shm::task_ref_gen(top) && t.owner == owner && t.state == shm::TaskState::kClaimed;
  }
  // An actor's process too: kill() empties its queues before the exit arrives, so the call it
  // was running is found only by its owner mark (a walk of the queues leaked it for good).
  for (std::uint32_t idx = 0; idx < v_.task_capacity; ++idx)
    recover_task_locked(idx, r, cancel_kill, top_known ? top : 0);
}

namespace {
// kObjWriting -> kPending by CAS: a waiter may set kObjWaiters on the word at any time (it
// sees kObjWriting as open), and a plain store of the word read before would drop that flag,
// so the next writer would not wake the waiter (it slept until its 100 ms safety net).
void reopen_object(shm::ObjectSlot& res) noexcept {
  std::uint32_t w = shm::load_acquire(res.state);
  for (;;) {
    shm::ObjectWord ow = shm::ObjectWord::unpack(w);
    if (ow.state != shm::kObjWriting) return;
    ow.state = std::uint8_t(shm::ObjectState::kPending);
    if (shm::cas(res.state, w, ow.pack())) return;
  }
}
}  // namespace

void Driver::recover_task_locked(std::uint32_t idx, const shm::ExitReport& r, bool cancel_kill, std::uint64_t top) {
  // `top`: the task the dead worker ran (0 when unknown); the others it owned waited under it.
  const std::uint16_t owner = static_cast<std::uint16_t>(r.slot + 1);
  shm::TaskSlot& slot = v_.tasks[idx];
  shm::TaskWord tw = shm::TaskWord::unpack(shm::load_acquire(slot.state));
  if (tw.owner != owner || (tw.state != shm::TaskState::kClaimed && tw.state != shm::TaskState::kDone)) return;
  TaskInfo& info = tasks_[idx];
  if (!info.live || info.gen != tw.gen) return;
  if (info.hold) return requeue_hold_locked(idx, tw);
  shm::ObjectSlot& res = v_.objects[info.result.index()];
  shm::ObjectWord ow = v_.word(res);
  if (ow.final()) return finish_task_locked(idx);
  if (ow.state == shm::kObjWriting) reopen_object(res);  // the dead process was the writer
  if (info.actor.value) return recover_actor_task_locked(idx, tw, r);
  const bool below = top != 0 && shm::task_ref(idx, tw.gen) != top;
  if (cancel_kill || (below && !(slot.task_flags & shm::kTaskNoInline))) {
    if (!cancel_kill) slot.task_flags |= shm::kTaskNoInline;  // before the queueing CAS publishes it
    tw.state = shm::TaskState::kWaiting;
    tw.owner = 0;
    shm::store_release(slot.state, tw.pack());
    return queue_task_locked(idx);
  }
  retry_or_fail_locked(idx, tw, r);
}

void Driver::requeue_hold_locked(std::uint32_t idx, shm::TaskWord tw) {
  // Its main task still needs the CPU while its result is open: queue the hold again
  // (a main still waiting for its holds may start one CPU short until it is claimed).
  if (!v_.word(v_.objects[tasks_[idx].result.index()]).open()) return finish_task_locked(idx);
  tw.state = shm::TaskState::kQueued;
  tw.owner = 0;
  shm::store_release(v_.tasks[idx].state, tw.pack());
  push_dispatch_locked(shm::task_ref(idx, tw.gen));
  wake_worker();
}

void Driver::retry_or_fail_locked(std::uint32_t idx, shm::TaskWord tw, const shm::ExitReport& r) {
  shm::TaskSlot& slot = v_.tasks[idx];
  const TaskInfo& info = tasks_[idx];
  const std::uint32_t attempts = slot.attempt + 1;
  const detail::FunctionInfo* fn = detail::function_at(slot.function);
  const std::string function = fn ? fn->name : "?";
  // The crash report (the log, Options::log_sink); not while shutdown() takes the pool down.
  const bool report = !stopping_.load(std::memory_order_acquire);
  const std::string crash = "shmray: the worker process running " + wire::task_label(function, info.name) + " (pid " +
                            std::to_string(r.pid) + ") " + describe_exit(r.status);
  if (info.max_retries < 0 || attempts <= static_cast<std::uint32_t>(info.max_retries)) {
    if (report)
      warn(crash + "; running the task again (retry " + std::to_string(attempts) + " of " +
           (info.max_retries < 0 ? std::string("unlimited") : std::to_string(info.max_retries)) + ")");
    slot.attempt = attempts;
    bump(counters_.retries);
    tw.state = shm::TaskState::kWaiting;
    tw.owner = 0;
    shm::store_release(slot.state, tw.pack());
    return queue_task_locked(idx);
  }
  wire::ErrorRecord e;
  e.kind = wire::ErrorKind::kWorkerCrashed;
  e.function = function;
  e.task_name = info.name;
  e.pid = r.pid;
  e.message =
      crash + (info.max_retries == 0 ? std::string("; the task has max_retries=0")
                                     : "; no retry was left (max_retries=" + std::to_string(info.max_retries) + ")");
  if (report) log(LogLevel::error, e.message + ": it fails with WorkerCrashedError");
  const std::string payload = wire::encode(e);
  fail_task_locked(idx, std::as_bytes(std::span(payload.data(), payload.size())));
}

void Driver::release_worker_holds_locked(std::uint32_t slot) {
  WorkerEnd& we = pool_[slot];
  for (auto& [raw, count] : we.holds)
    for (std::uint32_t k = 0; k < count; ++k) release_locked(ObjectId{raw});
  we.holds.clear();
}

void Driver::replace_worker_locked(const shm::ExitReport& r) {
  if (r.slot >= v_.geo.pool_slots) return on_actor_exit_locked(r);
  switch (pool_.after_exit_locked(r, stopping_.load(std::memory_order_acquire))) {
    case WorkerPool::AfterExit::kRespawn:
      bump(counters_.restarts);
      request_spawn(r.slot);
      return;
    case WorkerPool::AfterExit::kNoWorkerLeft:
      break_pool_locked(fork_failed_message(r.pid));  // queued tasks would wait forever
      return;
    case WorkerPool::AfterExit::kNothing: return;
  }
}

void Driver::on_fork_server_death_locked() {
  const std::string how = pool_.reap_fork_server_locked();
  // What it reported before dying (request_spawn now only marks the slots for the next one).
  while (auto r = pool_.pop_exit()) handle_exit_locked(*r);
  pool_.kill_survivors_locked();
  // Then each is a worker death like any other: its tasks are retried (the usual retry
  // accounting) or fail with WorkerCrashedError, what it held is released.
  for (std::uint32_t w = 0; w < pool_.size(); ++w)
    if (pool_[w].alive) handle_exit_locked({w, pool_[w].pid, W_EXITCODE(0, SIGKILL), pool_[w].incarnation});
  if (stopping_.load(std::memory_order_acquire)) return;
  if (auto why = pool_.count_restart_locked(how)) return break_pool_locked(*why);
  warn("shmray: the fork server " + how + "; starting a new one");
  const std::vector<std::uint32_t> slots = pool_.starting_slots_locked();
  // The slots go to the new fork server as its first workers: the spawn requests that
  // handle_exit_locked queued for them must not ask it a second time.
  pool_.clear_requests_locked();
  try {
    pool_.start_fork_server(slots);  // forked from this (the event) thread: see README, "Threads"
  } catch (const Error& e) {
    break_pool_locked(e.what());
  }
}

void Driver::break_pool_locked(const std::string& why) {
  if (!pool_.set_broken_locked(why)) return;
  log(LogLevel::error, why);
  wire::ErrorRecord e;
  e.kind = wire::ErrorKind::kPool;
  e.message = why;
  const std::string payload = wire::encode(e);
  const auto bytes = std::as_bytes(std::span(payload.data(), payload.size()));
  for (std::uint32_t idx = 0; idx < v_.task_capacity; ++idx) fail_live_task_locked(idx, bytes);
  while (auto t = tasks_.pop_backlog()) fail_waiting_locked(std::move(*t), payload);
  for (BacklogTask& t : tasks_.take_infeasible()) fail_waiting_locked(std::move(t), payload);
}

void Driver::fail_live_task_locked(std::uint32_t idx, std::span<const std::byte> payload) {
  TaskInfo& info = tasks_[idx];
  if (!info.live) return;
  if (info.hold) return finish_task_locked(idx);
  shm::TaskSlot& slot = v_.tasks[idx];
  std::uint64_t w = shm::load_acquire(slot.state);
  shm::TaskWord tw = shm::TaskWord::unpack(w);
  if (tw.gen != info.gen) return;
  if (tw.state == shm::TaskState::kQueued) {
    shm::TaskWord next = tw;
    next.state = shm::TaskState::kCancelled;  // no worker may claim it any more
    if (!shm::cas(slot.state, w, next.pack())) tw = shm::TaskWord::unpack(w);
  }
  if (tw.state == shm::TaskState::kClaimed || tw.state == shm::TaskState::kDone) {
    // A worker still has it (an extra one): fail the result now, recycle the slot when it
    // reports (as a cancel does).
    if (objects_.write_payload_locked(info.result, shm::ObjectState::kFailed, payload)) on_final_locked(info.result);
    return;
  }
  fail_task_locked(idx, payload);
}

}  // namespace shmray::driver
