// The task loop of a worker: claiming (spin, then sleep), the driver's control entries, and
// running one claimed task with the bookkeeping around it (the stack of inline runs, the
// force-cancel handshake, the holds of a task with num_cpus > 1).
#include <malloc.h>
#include <sched.h>
#include <unistd.h>

#include "common/object_wait.hpp"
#include "shm/futex.hpp"
#include "wire/control.hpp"
#include "wire/descriptor.hpp"
#include "wire/error_record.hpp"
#include "wire/fork_protocol.hpp"
#include "worker/runtime_internal.hpp"
#include "worker/worker_runtime.hpp"

namespace shmray::worker {

namespace {

// An idle worker spins this long before it sleeps on a futex. Waking a sleeping worker costs
// ~35 us on a 2-vCPU machine; a 50 us spin keeps a dispatch round trip at ~0.3 us (as pure
// spinning), while a 2 us spin gives 7-9 us: one sleep makes the next wake late too.
constexpr std::uint64_t kIdleSpinNs = 50'000;
constexpr std::uint32_t kMaxIdleSpinners = 1;         // more spinners would take the CPUs busy processes need
constexpr std::int64_t kExtraIdleNs = 1'000'000'000;  // an extra worker idle this long exits
constexpr std::int64_t kTrimIdleNs = 1'000'000'000;   // a worker idle this long returns freed memory

constexpr std::uint64_t kKillWaitNs = 2'000'000'000;  // leave_bottom_task: longest wait for a pending kill

class NoHelpWait final : public common::WaitHelper {};

}  // namespace

using internal::t_task_thread;

std::uint64_t WorkerRuntime::next_task() {
  leave_if_forked();  // never claim from a copy of this worker
  for (;;) {
    drain_control();
    if (auto ref = v_.dispatch.claim(task_owner_)) return *ref;
    // Spin a while (one idle worker at a time), then sleep on our own wake word.
    // The end of the spin is published before the bit: a submitter that sees the bit past
    // that time (we were stopped or descheduled) wakes a sleeper instead of counting on us.
    const std::uint64_t until = shm::now_ns() + kIdleSpinNs;
    shm::store_relaxed(ctl_.spin_until_ns, until);
    v_.spinning.set(slot_);
    if (v_.spinning.count() <= kMaxIdleSpinners) {
      while (shm::now_ns() < until && v_.dispatch.empty()) shm::cpu_relax();
    }
    v_.spinning.clear(slot_);
    if (!v_.dispatch.empty()) continue;
    bool wake = false;
    {
      std::lock_guard lock(mu_);
      wake = flush_releases_locked();  // an idle worker must not sit on references
    }
    if (wake) ring_doorbell();
    const std::uint32_t seen = shm::atom(ctl_.wake).load(std::memory_order_seq_cst);
    v_.sleeping.set(slot_);
    shm::atom(ctl_.state).store(std::uint32_t(shm::WorkerState::kSleeping), std::memory_order_seq_cst);
    // Pairs with the fence in Driver::wake_worker: either it sees kSleeping or we see its task.
    // A worker started while others were blocked leaves once it has been idle a while.
    // A worker that ran tasks since it last trimmed wakes once after a second idle to give
    // back the memory its tasks freed (the heap keeps it for reuse while work flows).
    const bool extra = shm::load_relaxed(ctl_.extra) != 0;
    std::int64_t limit = -1;
    if (extra)
      limit = kExtraIdleNs;
    else if (!trimmed_)
      limit = kTrimIdleNs;
    bool timed_out = false;
    if (v_.dispatch.empty() && control_.empty())
      timed_out = !shm::futex_wait(&ctl_.wake, seen, std::chrono::nanoseconds(limit));
    if (timed_out && extra && v_.dispatch.empty()) {
      bool wake = false;
      {
        std::lock_guard lock(mu_);
        wake = flush_releases_locked();
      }
      if (wake) ring_doorbell();
      ::_exit(0);
    }
    if (timed_out && !trimmed_) {
      ::malloc_trim(0);
      trimmed_ = true;
    }
    std::uint32_t st = std::uint32_t(shm::WorkerState::kSleeping);
    shm::cas(ctl_.state, st, std::uint32_t(shm::WorkerState::kIdle));
    v_.sleeping.clear(slot_);
  }
}

void WorkerRuntime::drain_control() {
  if (control_.empty()) return;
  bool released = false;
  {
    std::lock_guard lock(mu_);
    released = drain_control_locked();
  }
  // The driver holds more for us than the ring had room for: now there is room.
  std::uint32_t more = 1;
  if (shm::load_relaxed(ctl_.more_control) != 0 && shm::cas(ctl_.more_control, more, 0u)) ring_doorbell();
  shm::HotWords& h = *v_.hot;
  if (released && shm::atom(h.arena_epoch.aux).load(std::memory_order_seq_cst) != 0)
    shm::futex_bump_and_wake_all(&h.arena_epoch.value);  // someone waits for store space
}

bool WorkerRuntime::drain_control_locked() {
  bool released = false;
  while (auto e = control_.try_pop()) {
    const std::uint64_t kind = *e & ~wire::kControlPayload, payload = *e & wire::kControlPayload;
    if (kind == wire::kControlFree) {
      released |= heap_.free(payload);
    } else if (kind == wire::kControlObject && payload < v_.object_capacity) {
      object_supply_.push_back(static_cast<std::uint32_t>(payload));
    } else if (kind == wire::kControlTask && payload < v_.task_capacity) {
      task_supply_.push_back(static_cast<std::uint32_t>(payload));
    } else if (kind == wire::kControlRun && is_actor_) {
      actor_runs_.push_back(payload);
    } else if (kind == wire::kControlStop && is_actor_) {
      actor_stop_ = true;
    }
  }
  return released;
}

void WorkerRuntime::run_task(std::uint64_t task_ref) {
  if (timeline_.on()) [[unlikely]]  // the timeline's one branch per task when it is off
    return run_task_recorded(task_ref);
  const Running r = enter_task(task_ref);
  finish(r, run_claimed(r));
  leave_task();
}

// Its records go before TaskDone (finish), so the driver reads them while it still knows the task.
void WorkerRuntime::run_task_recorded(std::uint64_t task_ref) {
  const Running r = enter_task(task_ref);
  if (timeline_.full()) [[unlikely]]
    timeline_room();  // before the clock: the wait is not the task's
  timeline_.append(task_ref, shm::now_ns(), shm::TimelineKind::kStart, static_cast<std::uint32_t>(stack_.size()));
  const bool failed = run_claimed(r);
  record(task_ref, shm::now_ns(), shm::TimelineKind::kEnd,
         static_cast<std::uint32_t>(failed ? shm::TimelineOutcome::kFailed : shm::TimelineOutcome::kOk));
  finish(r, failed);
  leave_task();
}

void WorkerRuntime::record(std::uint64_t task_ref, std::uint64_t ns, shm::TimelineKind kind,
                           std::uint32_t aux) noexcept {
  if (timeline_.full()) [[unlikely]]
    timeline_room();
  timeline_.append(task_ref, ns, kind, aux);
}

// The driver drains the ring at each TaskDone and wakes when it is half full (task_call.cpp),
// so a full one means the driver got no CPU for thousands of tasks (a loaded machine): wake it
// and yield for up to 2 ms rather than lose the record. A driver that does not come (stopped,
// or the host's thread starved for good) costs one such wait: after it, records are dropped
// (and counted) without waiting until the driver has read half the ring.
void WorkerRuntime::timeline_room() noexcept {
  if (timeline_gave_up_) {
    if (timeline_.filling()) return;
    timeline_gave_up_ = false;
  }
  ring_doorbell();
  const std::uint64_t until = shm::now_ns() + 2'000'000;
  while (timeline_.full()) {
    if (shm::now_ns() > until) {
      timeline_gave_up_ = true;
      return;
    }
    ::sched_yield();
  }
}

bool WorkerRuntime::run_claimed(const Running& r) {
  if (v_.task(r.task_ref).function == shm::kHoldFunction) {
    run_hold(r);
    return false;
  }
  std::string error;
  const bool failed = run_function(r, error);
  if (failed) publish_error(r, error);
  return failed;
}

// Pushes a claimed task on the stack and says so in the worker's control block.
WorkerRuntime::Running WorkerRuntime::enter_task(std::uint64_t task_ref) {
  shm::TaskSlot& slot = v_.task(task_ref);
  Running r;
  r.task_ref = task_ref;
  r.result = ObjectId{slot.result};
  r.no_inline = (slot.task_flags & shm::kTaskNoInline) != 0 || is_actor_;  // an actor runs only its own calls
  stack_.push_back(r);
  if (stack_.size() == 1) {  // force cancel may kill only this one (the handshake in cancel.cpp: seq_cst)
    bottom_.store(task_ref, std::memory_order_release);
    shm::atom(ctl_.bottom_task).store(task_ref, std::memory_order_seq_cst);
  }
  shm::store_relaxed(ctl_.current_task, task_ref);
  shm::store_relaxed(ctl_.state, std::uint32_t(shm::WorkerState::kRunning));
  ctl_.depth = static_cast<std::uint32_t>(stack_.size());
  // Wake a sleeping worker when more is queued and nobody is spinning for it.
  if (!v_.dispatch.empty()) v_.wake_one_idle();
  return r;
}

void WorkerRuntime::leave_task() {
  stack_.pop_back();
  ctl_.depth = static_cast<std::uint32_t>(stack_.size());
  shm::store_relaxed(ctl_.current_task, stack_.empty() ? 0 : stack_.back().task_ref);
  shm::store_relaxed(ctl_.state, std::uint32_t(stack_.empty() ? shm::WorkerState::kIdle : shm::WorkerState::kRunning));
  ++ctl_.tasks_run;
  trimmed_ = false;
  if (stack_.empty()) leave_bottom_task();
}

// The worker's half of the force-cancel handshake (the driver's half and the argument are
// in cancel.cpp). We clear bottom_task, then read kill_pending; if a kill is pending it may
// be on its way for the task we just left, so we claim nothing until the driver withdraws
// it (it does so within the same locked call) or the kill lands. Should the driver stall
// right there for 2 s (stopped in a debugger), we exit instead: the task is finished and
// reported, the driver replaces us, and no task claimed later can be hit.
void WorkerRuntime::leave_bottom_task() {
  bottom_.store(0, std::memory_order_release);
  shm::atom(ctl_.bottom_task).store(std::uint64_t{0}, std::memory_order_seq_cst);
  if (shm::atom(ctl_.kill_pending).load(std::memory_order_seq_cst) == 0) return;
  const std::uint64_t until = shm::now_ns() + kKillWaitNs;
  for (;;) {
    const std::uint32_t seen = shm::atom(ctl_.wake).load(std::memory_order_seq_cst);
    if (shm::atom(ctl_.kill_pending).load(std::memory_order_seq_cst) == 0) return;
    if (shm::now_ns() >= until) ::_exit(wire::kExitKillWait);
    shm::futex_wait(&ctl_.wake, seen, std::chrono::milliseconds(10));  // the driver bumps wake when it withdraws
  }
}

void WorkerRuntime::run_hold(const Running& r) {
  // One more of the main task's CPUs is held: count it down (the main starts its body at
  // zero). The word names the main's generation, so a recycled slot is never counted.
  const std::uint64_t main = v_.task(r.task_ref).parent;
  if (v_.valid_task_ref(main)) {
    shm::TaskSlot& ms = v_.task(main);
    std::uint64_t w = shm::load_acquire(ms.holds);
    while (std::uint32_t(w >> 32) == shm::task_ref_gen(main) && std::int32_t(std::uint32_t(w)) > 0) {
      if (shm::atom(ms.holds).compare_exchange_weak(w, w - 1, std::memory_order_acq_rel)) {
        shm::futex_wake(reinterpret_cast<std::uint32_t*>(&ms.holds), 1);
        break;
      }
    }
  }
  // Keep this worker (one CPU slot) busy until the main task's result is final or gone.
  NoHelpWait helper;
  shm::ObjectWord w;
  common::wait_final(v_, r.result, detail::Deadline::never(), helper, w);
}

bool WorkerRuntime::wait_for_holds(const Running& r) {
  shm::TaskSlot& slot = v_.task(r.task_ref);
  const std::uint32_t gen = shm::task_ref_gen(r.task_ref);
  auto* futex = reinterpret_cast<std::uint32_t*>(&slot.holds);  // the low half (little-endian)
  // Run inline on top of a task that waits for it, it uses that task's CPU: let the driver
  // start a worker for its holds meanwhile, as for any blocked worker. Else it just waits.
  const bool on_a_waiting_task = stack_.size() > 1;
  const std::uint64_t spin_until = shm::now_ns() + common::kSpinNs;
  bool ok = true;
  for (;;) {
    const std::uint64_t w = shm::load_acquire(slot.holds);
    if (std::uint32_t(w >> 32) != gen || std::int32_t(std::uint32_t(w)) <= 0) break;
    if (task_cancelled(r)) {
      ok = false;
      break;
    }
    if (shm::now_ns() < spin_until) {
      shm::cpu_relax();
      continue;
    }
    if (on_a_waiting_task) set_blocked(true);
    shm::futex_wait(futex, std::uint32_t(w), std::chrono::milliseconds(100));  // 100 ms: a cancel check
  }
  if (on_a_waiting_task) set_blocked(false);
  return ok;
}

}  // namespace shmray::worker
