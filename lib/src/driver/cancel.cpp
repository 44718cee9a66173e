// Cancelling. A task that has not started never runs: kQueued becomes kCancelled by CAS,
// so no worker can claim it afterwards, and a task still waiting for arguments (or in the
// backlog) is dropped. A running task's result fails at once with TaskCancelledError (get
// and wait see it immediately, dependents fail the same way) and its result, when it comes,
// is discarded; its cancel flag turns cancelled() true inside it. With force, the worker
// process is killed and replaced, but only when the task is the outermost one on that
// worker's stack: a task running inline above its parent (or above an unrelated waiting
// task) is stopped cooperatively instead, so force-cancelling a child never kills its parent.
#include <signal.h>

#include <algorithm>

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

bool Driver::cancel_waiting_locked(ObjectId id, std::deque<BacklogTask>& list) {
  auto it = std::find_if(list.begin(), list.end(), [&](const BacklogTask& t) { return t.result == id; });
  if (it == list.end()) return false;
  BacklogTask t = std::move(*it);
  list.erase(it);
  const std::string payload = cancelled_payload(id, t.function, t.info.name);
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
        if (force && worker < workers_.size() && workers_[worker].alive &&
            shm::load_acquire(seg_.worker(worker).bottom_task) == ref) {
          const pid_t pid = shm::load_acquire(seg_.worker(worker).pid);
          if (pid > 0) ::kill(pid, SIGKILL);  // the fork server reports it; handle_exit cleans up
        }
        return;  // the slot is recycled when the worker reports TaskDone (or dies)
      }
      default:
        return;  // kDone: finished; kFree/kCancelled: gone
    }
  }
}

}  // namespace shmray::driver
