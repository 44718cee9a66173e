// Waiting inside a task (the rule is in inline_helper.hpp): running a producer inline, our
// own queued children, and telling the driver when the worker is blocked.
#include "worker/inline_helper.hpp"

#include "shm/futex.hpp"
#include "shmray/errors.hpp"
#include "wire/descriptor.hpp"
#include "worker/runtime_internal.hpp"

namespace shmray::worker {

using internal::g_forked_child;
using internal::refuse_forked;
using internal::t_task_thread;

namespace {
// How long a waiter leaves a child it may not run inline to other workers before it runs it
// after all (progress first: max_workers may be reached). One grace for both cases below.
constexpr std::uint64_t kInlineGraceNs = 2'000'000'000;
// A queued child with a TaskOptions::timeout (kTaskKillable) is left to another worker: its
// force cancel could not kill it inline without killing us. If none takes it for this long
// (max_workers reached), we run it after all, or it would sit queued until its deadline
// failed it (or for good): progress first. Its deadline then only cancels it softly (the
// driver kills a worker only for its outermost task): the result fails with
// TaskTimeoutError at once, and the task stops when it looks at cancelled().
}  // namespace

WorkerRuntime::InlineHelper::InlineHelper(WorkerRuntime& rt, std::span<const ObjectId> ids, detail::Deadline until,
                                          std::size_t needed)
    : rt_(rt),
      ids_(ids),
      task_thread_(t_task_thread && !rt.stack_.empty()),
      in_task_(rt.own_task() != 0),
      finite_(!until.is_never()),
      needed_(needed),
      since_(shm::now_ns()) {}

// Cannot throw (a throw out of a destructor ends the worker with std::terminate), so the
// report of the end of the wait may be dropped instead: in a process a task forked nothing
// is reported and the real worker's control block is left alone, and a report post cannot
// send is dropped (report_blocked: the next change of state reports the truth).
WorkerRuntime::InlineHelper::~InlineHelper() noexcept {
  if (g_forked_child) return;
  if (task_thread_) rt_.set_blocked(false);
  if (counted_) rt_.thread_waits(false);
}

bool WorkerRuntime::InlineHelper::help() {
  if (!in_task_) return false;  // not inside a task: just wait
  rt_.throw_if_cancelled();
  if (rt_.is_actor_ && !finite_) rt_.refuse_wait_on_self(ids_, needed_);
  if (!may_inline()) return false;
  if (!rt_.walk_seen_.empty()) rt_.walk_seen_.clear();  // a new walk (a nested one's set is done with)
  const bool killable_too = shm::now_ns() - since_ >= kInlineGraceNs;
  for (ObjectId id : ids_)
    if (rt_.try_run_producer(id, 0, killable_too)) return true;
  return false;
}

std::int64_t WorkerRuntime::InlineHelper::before_sleep() {
  if (task_thread_) {
    rt_.set_blocked(true);
  } else if (in_task_ && !counted_) {
    counted_ = true;
    rt_.thread_waits(true);
  }
  return 100'000'000;  // a safety net only: queueing a task we wait on bumps object_epoch
}

// A run flagged kTaskNoInline (a task inline above it crashed the worker: see
// handle_exit_locked) leaves its children to other workers. If one is still queued after
// kInlineGraceNs (no worker could be started: max_workers reached), it runs it after
// all: progress first. A crash then is charged to it too, so retries stay bounded.
bool WorkerRuntime::InlineHelper::may_inline() const {
  if (!task_thread_ || finite_ || rt_.is_actor_) return false;  // an actor runs only its own calls, in order
  return !rt_.stack_.back().no_inline || shm::now_ns() - since_ >= kInlineGraceNs;
}

bool WorkerRuntime::try_run_producer(ObjectId id, int depth, bool killable_too) {
  if (g_forked_child) refuse_forked();  // a claim from a copy of this worker would be lost with it
  const shm::ObjectSlot* s = v_.slot(id);
  if (!s || depth > 64) return false;
  const shm::ObjectWord ow = v_.word(*s);
  if (ow.gen != id.gen() || !ow.open()) return false;
  const std::uint64_t ref = shm::load_acquire(const_cast<std::uint64_t&>(s->producer));
  if (!v_.valid_task_ref(ref)) return false;
  shm::TaskSlot& t = v_.task(ref);
  const shm::TaskWord tw = shm::TaskWord::unpack(shm::load_acquire(t.state));
  if (tw.gen != shm::task_ref_gen(ref)) return false;
  if (tw.state == shm::TaskState::kQueued && (t.task_flags & shm::kTaskActor)) return false;  // its actor's alone
  if (tw.state == shm::TaskState::kQueued && (t.task_flags & shm::kTaskKillable) && !killable_too)
    return false;  // a pool worker's (see kInlineGraceNs)
  if (tw.state == shm::TaskState::kQueued) {
    if (!shm::try_claim_task(t, tw.gen, task_owner_)) return false;
    set_blocked(false);
    run_task(ref);
    return true;
  }
  if (tw.state == shm::TaskState::kWaiting) {
    // Its arguments' producers may be queued: run those (the slot may change under us; every
    // id read here is checked again before use). Each task is looked under once per walk:
    // the walk is over tasks, not paths (a graph of layers of two, each task taking both of
    // the layer below, has 2^depth paths).
    if (!walk_seen_.insert(ref).second) return false;
    if (auto d = wire::parse_descriptor(v_.descriptor(t)))
      for (std::uint32_t i = 0; i < d->resolve && i < 4096; ++i)
        if (try_run_producer(d->resolve_id(i), depth + 1, killable_too)) return true;
  }
  return false;
}

// An actor runs one call at a time: a method waiting, without a deadline, for a call to its
// own actor that has not started would wait for ever (the call runs only after the method
// returns). The driver marks each call it took with its actor's slot (TaskSlot::holds, unused
// by actor calls otherwise), so a wait that needs more ids final than are not such calls
// (get of one, wait for num_returns, as_completed's last ones) is refused with an error
// saying what to do. Looked at on each wake: the driver marks a call some time after its
// submit, and a wait that was not refused at first may be once its mark is there.
void WorkerRuntime::refuse_wait_on_self(std::span<const ObjectId> ids, std::size_t needed) const {
  std::size_t may_end = ids.size();
  for (ObjectId id : ids) {
    if (may_end < needed) break;
    const shm::ObjectSlot* s = v_.slot(id);
    if (!s || !v_.word(*s).open()) continue;
    const std::uint64_t ref = shm::load_acquire(const_cast<std::uint64_t&>(s->producer));
    if (!v_.valid_task_ref(ref)) continue;
    shm::TaskSlot& t = v_.task(ref);
    const shm::TaskWord tw = shm::TaskWord::unpack(shm::load_acquire(t.state));
    const bool not_started = tw.state == shm::TaskState::kQueued || tw.state == shm::TaskState::kWaiting;
    if (tw.gen != shm::task_ref_gen(ref) || !not_started || !(t.task_flags & shm::kTaskActor)) continue;
    if (shm::load_acquire(t.result) != id.value) continue;  // a stale producer word: not this object's task
    if (shm::load_acquire(t.holds) == std::uint64_t(slot_) + 1) --may_end;
  }
  if (may_end < needed)
    throw Error(
        "shmray: an actor method waits for a call to its own actor; that call runs only after this method "
        "returns, so the wait would never end. Return the ref instead, call the method directly, or give "
        "the wait a timeout");
}

bool WorkerRuntime::run_own_child() {
  if (g_forked_child) refuse_forked();
  while (!own_children_.empty()) {
    const std::uint64_t ref = own_children_.front();
    own_children_.erase(own_children_.begin());
    shm::TaskSlot& t = v_.task(ref);
    if (shm::try_claim_task(t, shm::task_ref_gen(ref), task_owner_)) {
      run_task(ref);
      return true;
    }
  }
  return false;
}

void WorkerRuntime::set_blocked(bool blocked) noexcept {
  if (g_forked_child) return;  // a copy of this worker: the control block is the real worker's
  {
    std::lock_guard lock(blocked_mu_);
    if (blocked == task_blocked_) return;
    task_blocked_ = blocked;
  }
  shm::store_relaxed(ctl_.state, std::uint32_t(blocked ? shm::WorkerState::kBlocked : shm::WorkerState::kRunning));
  report_blocked();
}

// A thread the task started sleeps in get/wait (or stops). Its task thread may be joining
// it, outside the API: the worker must then count as blocked too, or with every CPU slot
// taken no worker would ever run what the thread waits for.
void WorkerRuntime::thread_waits(bool waits) noexcept {
  if (g_forked_child) return;
  {
    std::lock_guard lock(blocked_mu_);
    waiting_threads_ += waits ? 1 : -1;
  }
  report_blocked();
}

// Tells the driver whether the worker is blocked: its task thread, or any thread of its
// task, sleeps waiting for an object. Under blocked_mu_ so that reports arrive in the order
// of the state changes (post takes mu_ inside: the order is always blocked_mu_, then mu_).
// A report that cannot be sent is dropped and blocked_reported_ keeps what the driver last
// heard, so the next change reports again; meanwhile the driver's view is stale (at worst it
// starts one extra worker, or one too few, until then).
void WorkerRuntime::report_blocked() noexcept {
  std::lock_guard lock(blocked_mu_);
  const bool blocked = task_blocked_ || waiting_threads_ > 0;
  if (blocked == blocked_reported_) return;
  if (!try_post(blocked ? wire::MsgType::kBlocked : wire::MsgType::kUnblocked)) return;
  blocked_reported_ = blocked;
  if (blocked && !v_.dispatch.empty()) ring_doorbell();  // queued work could use our CPU: the driver may add a worker
}

}  // namespace shmray::worker
