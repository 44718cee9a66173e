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
#include "shm/futex.hpp"
#include "shmray/detail/registry.hpp"
#include "shmray/errors.hpp"

namespace shmray::driver {

std::string Driver::cancelled_payload(ObjectId id, std::uint32_t function, const std::string& name) const {
  const detail::FunctionInfo* fn = detail::function_at(function);
  wire::ErrorRecord e;
  e.kind = wire::ErrorKind::kCancelled;
  e.function = fn ? fn->name : "";
  e.task_name = name;
  const std::string label = fn ? wire::task_label(fn->name, name) : name;
  e.message = "shmray: the task" + (label.empty() ? std::string() : " " + label) + " of ObjectRef(" + id.hex() +
              ") was cancelled";
  return wire::encode(e);
}

void Driver::cancel(ObjectId id, const CancelOptions& options) {
  check_live(id);
  std::lock_guard lock(mu_);
  pump_locked();
  cancel_locked(id, options.force, options.recursive);
}

bool Driver::cancel_waiting_locked(ObjectId id, std::deque<BacklogTask>& list, const std::string* error) {
  auto it = std::find_if(list.begin(), list.end(), [&](const BacklogTask& t) { return t.result == id; });
  if (it == list.end()) return false;
  BacklogTask t = std::move(*it);
  list.erase(it);
  const std::string payload = error ? *error : cancelled_payload(id, t.function, t.info.name);
  write_payload_locked(id, shm::ObjectState::kFailed, std::as_bytes(std::span(payload.data(), payload.size())));
  for (ObjectId p : t.info.pins) release_locked(p);
  on_final_locked(id);
  release_locked(id);  // the producer pin
  return true;
}

void Driver::cancel_locked(ObjectId id, bool force, bool recursive) {
  shm::ObjectSlot* s = v_.slot(id);
  if (!s || v_.word(*s).final()) return;  // finished (or failed) already: nothing to do
  const std::uint64_t ref = s->producer;
  if (!v_.valid_task_ref(ref)) {
    // Not in the table: in the backlog, or pending for good for want of CPUs.
    std::deque<BacklogTask> infeasible(std::make_move_iterator(infeasible_.begin()), std::make_move_iterator(infeasible_.end()));
    infeasible_.clear();
    if (!cancel_waiting_locked(id, backlog_)) cancel_waiting_locked(id, infeasible);
    for (auto& t : infeasible) infeasible_.push_back(std::move(t));
    return;
  }
  const std::uint32_t idx = shm::task_ref_index(ref);
  TaskInfo& info = tasks_[idx];
  if (!info.live || info.gen != shm::task_ref_gen(ref)) return;
  // Its children first: a force kill of this task's process must not leave them to retry.
  if (recursive && info.has_children) {
    std::vector<ObjectId> children;
    for (std::uint32_t t = 0; t < v_.task_capacity; ++t)
      if (tasks_[t].live && tasks_[t].parent == ref && !tasks_[t].hold) children.push_back(tasks_[t].result);
    for (ObjectId c : children) cancel_locked(c, force, true);
    if (!tasks_[idx].live || tasks_[idx].gen != shm::task_ref_gen(ref)) return;
  }
  shm::TaskSlot& slot = v_.tasks[idx];
  const std::string payload = cancelled_payload(id, slot.function, info.name);
  const auto bytes = std::as_bytes(std::span(payload.data(), payload.size()));
  std::uint64_t w = shm::load_acquire(slot.state);
  for (;;) {
    shm::TaskWord tw = shm::TaskWord::unpack(w);
    if (tw.gen != info.gen) return;
    switch (tw.state) {
      case shm::TaskState::kWaiting:
        fail_task_locked(idx, bytes);
        return;
      case shm::TaskState::kQueued: {
        shm::TaskWord next = tw;
        next.state = shm::TaskState::kCancelled;
        if (!shm::cas(slot.state, w, next.pack())) continue;  // claimed meanwhile: handle it as running
        fail_task_locked(idx, bytes);
        return;
      }
      case shm::TaskState::kClaimed: {
        shm::TaskWord next = tw;
        next.flags |= shm::kTaskCancelRequested;
        if (!shm::cas(slot.state, w, next.pack())) continue;
        if (!write_payload_locked(id, shm::ObjectState::kFailed, bytes)) return;  // it finished first
        on_final_locked(id);
        const std::uint32_t worker = tw.owner - 1u;
        if (force && worker < workers_.size() && workers_[worker].alive) force_kill_locked(worker, ref);
        return;  // the slot is recycled when the worker reports TaskDone (or dies)
      }
      default:
        return;  // kDone: finished; kFree/kCancelled: gone
    }
  }
}

void Driver::force_kill_locked(std::uint32_t worker, std::uint64_t ref) {
  shm::WorkerControl& c = seg_.worker(worker);
  shm::atom(c.kill_pending).store(ref, std::memory_order_seq_cst);
  const pid_t pid = worker_pid(worker);  // checked: a child of our fork server, never a pid a stray write chose
  if (shm::atom(c.bottom_task).load(std::memory_order_seq_cst) == ref && pid > 0) {
    // Tests widen the window between the check and the kill (a preempted driver thread).
    if (const char* d = std::getenv("SHMRAY_TEST_FORCE_KILL_DELAY_US"))
      std::this_thread::sleep_for(std::chrono::microseconds(std::strtol(d, nullptr, 10) % 1'000'000));
    ::kill(pid, SIGKILL);  // kill_pending stays set; the fork server reports the death, handle_exit cleans up
    return;
  }
  shm::atom(c.kill_pending).store(std::uint64_t{0}, std::memory_order_seq_cst);
  shm::atom(c.wake).fetch_add(1, std::memory_order_seq_cst);  // a worker parked in leave_bottom_task goes on
  shm::futex_wake(&c.wake, 1);
}

}  // namespace shmray::driver
