// Cancelling. A task that has not started never runs: kQueued becomes kCancelled by CAS,
// so no worker can claim it afterwards, and a task still waiting for arguments (or in the
// backlog) is dropped. A running task's result fails at once with TaskCancelledError (get
// and wait see it immediately, dependents fail the same way) and its result, when it comes,
// is discarded; its cancel flag turns cancelled() true inside it. With force, the worker
// process is killed and replaced, but only when the task is the outermost one on that
// worker's stack: a task running inline above its parent (or above an unrelated waiting
// task) is stopped cooperatively instead, so force-cancelling a child never kills its parent.
//
// A force-cancel stops only the task it names, never the next one. The check "is it still
// the outermost task?" and the kill are two steps, and in between the task may return and
// its worker claim task B. Both sides therefore follow a Dekker handshake on two words of
// the worker's control block, every access seq_cst:
//   driver (force_kill_locked):    kill_pending = X;  then read bottom_task; kill iff == X
//   worker (leave_bottom_task):    bottom_task = 0;   then read kill_pending; wait iff != 0
// In the single total order of those four accesses, whichever side comes second sees the
// other's write. If the driver reads bottom_task == X, the worker has not yet left X, and
// when it does it will see kill_pending and claim nothing until the kill lands. If the
// worker left X first, the driver reads 0 (or B) and only clears kill_pending (waking the
// worker, which may be waiting for exactly that). So SIGKILL reaches a process whose
// outermost task is X or that sits parked after X, never one running B. The worker's
// start-of-task half is the same shape: it writes bottom_task = X, then (after decoding the
// arguments, TaskCall::before_body) reads the cancel flag, which the driver raised before
// reading bottom_task: either the kill comes or the task ends before its body.
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <thread>

#include "driver/driver.hpp"
#include "driver/warn.hpp"
#include "shm/futex.hpp"
#include "shmray/detail/registry.hpp"
#include "shmray/errors.hpp"

namespace shmray::driver {
namespace {
constexpr std::uint64_t kOverdueGraceNs = 1'000'000'000;  // see kill_overdue_locked
}  // namespace

std::string Driver::cancelled_payload(ObjectId id, std::uint32_t function, const std::string& name,
                                      wire::ErrorKind kind) const {
  const detail::FunctionInfo* fn = detail::function_at(function);
  wire::ErrorRecord e;
  e.kind = kind;
  e.function = fn ? fn->name : "";
  e.task_name = name;
  const std::string label = fn ? wire::task_label(fn->name, name) : name;
  e.message = "shmray: the task" + (label.empty() ? std::string() : " " + label) + " of ObjectRef(" + id.hex() + ") " +
              (kind == wire::ErrorKind::kTimeout ? "did not finish within its TaskOptions::timeout and was cancelled"
                                                 : "was cancelled");
  return wire::encode(e);
}

void Driver::cancel(ObjectId id, const CancelOptions& options) {
  objects_.check_live(id);
  std::lock_guard lock(mu_);
  pump_locked();
  cancel_locked(id, options.force, options.recursive);
}

void Driver::fail_waiting_locked(BacklogTask&& t, const std::string& payload) {
  const ObjectId id = t.result;
  objects_.write_payload_locked(id, shm::ObjectState::kFailed,
                                std::as_bytes(std::span(payload.data(), payload.size())));
  count_outcome_locked(id, t.function, t.info.submit_ns);
  for (ObjectId p : t.info.pins) release_locked(p);
  on_final_locked(id);
  release_locked(id);  // the producer pin
}

void Driver::cancel_locked(ObjectId id, bool force, bool recursive, wire::ErrorKind kind) {
  shm::ObjectSlot* s = v_.slot(id);
  if (!s || v_.word(*s).final()) return;  // finished (or failed) already: nothing to do
  const wire::TaskRef ref{s->producer};
  if (!v_.valid_task_ref(ref.value)) {
    // Not in the table: in the backlog, or pending for good for want of CPUs.
    if (auto t = tasks_.take_waiting(id)) {
      const std::string payload = cancelled_payload(id, t->function, t->info.name, kind);
      fail_waiting_locked(std::move(*t), payload);
    }
    return;
  }
  if (!tasks_.current(ref)) return;
  // Its children first: a force kill of this task's process must not leave them to retry.
  if (recursive && tasks_[ref.index()].has_children) {
    cancel_children_locked(ref, force);
    if (!tasks_.current(ref)) return;
  }
  cancel_in_table_locked(id, ref.index(), force, kind);
}

void Driver::cancel_children_locked(wire::TaskRef ref, bool force) {
  for (ObjectId c : tasks_.children_of(ref)) cancel_locked(c, force, true);
}

void Driver::cancel_in_table_locked(ObjectId id, std::uint32_t idx, bool force, wire::ErrorKind kind) {
  shm::TaskSlot& slot = v_.tasks[idx];
  const std::string payload = cancelled_payload(id, slot.function, tasks_[idx].name, kind);
  const auto bytes = std::as_bytes(std::span(payload.data(), payload.size()));
  const std::uint32_t gen = tasks_[idx].gen;
  std::uint64_t w = shm::load_acquire(slot.state);
  for (bool done = false; !done;) {  // a handler whose CAS lost (the state moved) goes round again
    const shm::TaskWord tw = shm::TaskWord::unpack(w);
    if (tw.gen != gen) return;
    switch (tw.state) {
      case shm::TaskState::kWaiting: fail_task_locked(idx, bytes); return;
      case shm::TaskState::kQueued: done = cancel_queued_locked(idx, w, bytes); break;
      case shm::TaskState::kClaimed:
        done = cancel_claimed_locked(id, idx, w, bytes, force, kind == wire::ErrorKind::kTimeout);
        break;
      default: return;  // kDone: finished; kFree/kCancelled: gone
    }
  }
}

bool Driver::cancel_queued_locked(std::uint32_t idx, std::uint64_t& w, std::span<const std::byte> payload) {
  shm::TaskWord next = shm::TaskWord::unpack(w);
  next.state = shm::TaskState::kCancelled;
  if (!shm::cas(v_.tasks[idx].state, w, next.pack())) return false;  // claimed meanwhile: handle it as running
  fail_task_locked(idx, payload);
  return true;
}

bool Driver::cancel_claimed_locked(ObjectId id, std::uint32_t idx, std::uint64_t& w, std::span<const std::byte> payload,
                                   bool force, bool timeout) {
  const shm::TaskWord tw = shm::TaskWord::unpack(w);
  shm::TaskWord next = tw;
  next.flags |= shm::kTaskCancelRequested;
  if (!shm::cas(v_.tasks[idx].state, w, next.pack())) return false;
  if (!objects_.write_payload_locked(id, shm::ObjectState::kFailed, payload)) return true;  // it finished first
  on_final_locked(id);
  const std::uint32_t worker = tw.owner - 1u;
  const wire::TaskRef ref = wire::TaskRef::make(idx, tw.gen);
  if (force && worker < pool_.size() && pool_[worker].alive && !force_kill_locked(worker, ref) && timeout)
    tasks_.add_overdue({shm::now_ns() + kOverdueGraceNs, worker, pool_[worker].incarnation, ref});
  return true;  // the slot is recycled when the worker reports TaskDone (or dies)
}

// A timed task run inline (its waiting parent ran it: no other worker could take it) was
// only told at its deadline, through cancelled(): a kill would have taken its parent too.
// One that ignores that for kOverdueGraceNs more would hold its parent's worker for good, so
// the worker is killed after all. The parent and any task under it did not crash: they run
// again (recover_tasks_locked: free of charge the first time, flagged kTaskNoInline) and
// find the child's ref failed with TaskTimeoutError. At least once, as for any retry.
void Driver::kill_overdue_locked(std::uint64_t now_ns) {
  for (const TaskTable::Overdue& o : tasks_.take_overdue(now_ns)) {
    if (o.worker >= pool_.size() || !pool_[o.worker].alive || pool_[o.worker].incarnation != o.incarnation) continue;
    const shm::TaskWord tw = shm::TaskWord::unpack(shm::load_acquire(v_.tasks[o.task.index()].state));
    if (tw.gen != o.task.gen() || tw.state != shm::TaskState::kClaimed || tw.owner != o.worker + 1u) continue;
    const pid_t pid = pool_.worker_pid(o.worker);
    if (pid <= 0) continue;
    warn("shmray: a timed task ran inline " + std::to_string(kOverdueGraceNs / 1'000'000) +
         " ms past its TaskOptions::timeout without looking at cancelled(); its worker (pid " + std::to_string(pid) +
         ") is killed, and the tasks it was running under run again");
    ::kill(pid, SIGKILL);
  }
}

void Driver::add_deadline_locked(std::uint64_t at_ns, ObjectId result) {
  if (tasks_.add_deadline(at_ns, result)) ring_doorbell();  // the event thread sleeps until the old earliest
}

std::chrono::nanoseconds Driver::expire_deadlines_locked(std::chrono::nanoseconds longest) {
  const std::uint64_t now = shm::now_ns();
  while (const std::optional<ObjectId> id = tasks_.pop_expired(now))
    if (v_.live(*id)) cancel_locked(*id, /*force=*/true, /*recursive=*/true, wire::ErrorKind::kTimeout);
  kill_overdue_locked(now);
  const std::uint64_t d = tasks_.next_deadline(), o = tasks_.next_overdue();
  const std::uint64_t next = d == 0 || (o != 0 && o < d) ? o : d;
  if (next == 0) return longest;
  return std::min(longest, std::chrono::nanoseconds(next > now ? next - now : 0));
}

bool Driver::force_kill_locked(std::uint32_t worker, wire::TaskRef ref) {
  shm::WorkerControl& c = seg_.worker(worker);
  shm::atom(c.kill_pending).store(ref.value, std::memory_order_seq_cst);
  const pid_t pid = pool_.worker_pid(worker);  // checked: a child of our fork server, never a pid a stray write chose
  if (shm::atom(c.bottom_task).load(std::memory_order_seq_cst) == ref.value && pid > 0) {
    // Tests widen the window between the check and the kill (a preempted driver thread).
    if (const char* d = std::getenv("SHMRAY_TEST_FORCE_KILL_DELAY_US"))
      std::this_thread::sleep_for(std::chrono::microseconds(std::strtol(d, nullptr, 10) % 1'000'000));
    ::kill(pid, SIGKILL);  // kill_pending stays set; the fork server reports the death, handle_exit cleans up
    if (timeline_.on()) timeline_.crashed_locked(end_timeline_locked(worker, shm::now_ns()), tasks_);  // ends now
    return true;
  }
  shm::atom(c.kill_pending).store(std::uint64_t{0}, std::memory_order_seq_cst);
  shm::atom(c.wake).fetch_add(1, std::memory_order_seq_cst);  // a worker parked in leave_bottom_task goes on
  shm::futex_wake(&c.wake, 1);
  return false;
}

}  // namespace shmray::driver
