// WorkerRuntime: construction, the task loop's entry, and the state every part reads (which
// task the calling thread works for, whether it is cancelled, whether this is a forked copy).
// The parts: worker_loop.cpp (claiming and running tasks), task_call.cpp (a task's call and
// its result), task_api.cpp (the API a task calls), inline_helper.cpp (waiting inside a
// task), event_channel.cpp (messages to the driver).
#include "worker/worker_runtime.hpp"

#include <unistd.h>

#include "notifier.hpp"
#include "shmray/errors.hpp"
#include "worker/runtime_internal.hpp"

namespace shmray::worker {

namespace internal {

bool g_forked_child = false;
thread_local bool t_task_thread = false;

void refuse_forked() {
  throw ForkedProcessError(
      "shmray: this process was forked inside a task; a forked child owns no pool and must not use the "
      "runtime: use the API in the task's own process, or exec (or _exit) in the child");
}

}  // namespace internal

using internal::g_forked_child;
using internal::t_task_thread;

WorkerRuntime::WorkerRuntime(const shm::Segment& seg, std::uint32_t slot)
    : v_(seg),
      ctl_(seg.worker(slot)),
      slot_(slot),
      task_owner_(static_cast<std::uint16_t>(slot + 1)),
      heap_(v_.spans, shm::owner_of_worker(slot)),
      events_(&ctl_.events, seg.event_buffer(slot), v_.geo.event_ring_bytes),
      control_(&ctl_.control, seg.control_entries(slot), v_.geo.control_ring_entries),
      timeline_(seg.timeline_ring(slot) ? shm::TimelineWriter(seg.timeline_ring(slot), v_.geo.timeline_entries)
                                        : shm::TimelineWriter()),
      is_actor_(slot >= v_.geo.pool_slots) {
  releases_.reserve(256);
}

void WorkerRuntime::run() {
  t_task_thread = true;
  if (is_actor_) run_actor();
  for (;;) run_task(next_task());
}

void note_fork_in_task() noexcept { g_forked_child = true; }

void WorkerRuntime::leave_if_forked() const {
  // A task forked and its child came back here: it is not this worker and must not claim
  // tasks or post to our rings. It leaves; the real worker goes on.
  if (g_forked_child) ::_exit(0);
}

bool WorkerRuntime::task_cancelled(std::uint64_t task_ref) const {
  const shm::TaskWord tw = shm::TaskWord::unpack(shm::load_acquire(v_.task(task_ref).state));
  // The flag, or the slot is no longer ours (the driver finished it after a cancel).
  return (tw.flags & shm::kTaskCancelRequested) != 0 || tw.gen != shm::task_ref_gen(task_ref) ||
         tw.state != shm::TaskState::kClaimed || tw.owner != task_owner_;
}

// The task the calling thread works for: the innermost one on the task thread, none on the
// notifier's (its callbacks belong to no task), the outermost one (bottom_) on another thread
// a task started; 0 outside any task.
std::uint64_t WorkerRuntime::own_task() const noexcept {
  if (t_task_thread) return stack_.empty() ? 0 : stack_.back().task_ref;
  if (shmray::internal::on_notifier_thread()) return 0;  // on_ready's thread: no task's
  return bottom_.load(std::memory_order_acquire);
}

bool WorkerRuntime::cancelled() {
  const std::uint64_t ref = own_task();
  return ref != 0 && task_cancelled(ref);
}

void WorkerRuntime::throw_if_cancelled() {
  if (cancelled())
    throw TaskCancelledError("shmray: this task was cancelled (the call was refused so the task can end)");
}

}  // namespace shmray::worker
