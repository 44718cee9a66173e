// The loop of an actor's process. It claims no task of the pool: it runs, one at a time and
// in the order they came, the tasks the driver sends on its control ring (its factory's call
// first, then method calls, each caller's in order), and stops when told (its destructor
// runs) or when its factory failed (the driver fails what was queued for it).
#include <malloc.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cstdio>

#include "shm/futex.hpp"
#include "shmray/detail/registry.hpp"
#include "worker/worker_runtime.hpp"

namespace shmray::worker {

namespace {
constexpr std::uint64_t kActorSpinNs = 50'000;  // as an idle pool worker: a call right after costs no wake-up
constexpr std::int64_t kTrimIdleNs = 1'000'000'000;
}  // namespace

void WorkerRuntime::run_actor() {
  ::prctl(PR_SET_NAME, "shmray-actor", 0, 0, 0);
  for (;;) {
    leave_if_forked();
    drain_control();
    std::optional<std::uint64_t> next;
    bool stop = false;
    {
      std::lock_guard lock(mu_);  // a thread of a method may drain the ring too (take_supply)
      if (!actor_runs_.empty()) {
        next = actor_runs_.front();
        actor_runs_.pop_front();
      }
      stop = actor_stop_;
    }
    if (next) {
      const auto ref = claim_actor_task(*next);
      if (!ref) continue;  // cancelled (or failed) before it ran
      const detail::FunctionInfo* fn = detail::function_at(v_.task(*ref).function);
      const bool creation = fn && fn->kind == detail::FunctionKind::kFactory;
      run_task(*ref);
      if (creation && !actor_self_) stop_actor();  // the factory failed: the driver buries the actor
      continue;
    }
    if (stop) stop_actor();
    idle_actor();
  }
}

std::optional<std::uint64_t> WorkerRuntime::claim_actor_task(std::uint64_t entry) {
  const std::uint32_t idx = static_cast<std::uint32_t>(entry);
  const std::uint32_t gen_low = static_cast<std::uint32_t>(entry >> 32) & 0x0fffffffu;
  if (idx >= v_.task_capacity) return std::nullopt;
  shm::TaskSlot& t = v_.tasks[idx];
  const shm::TaskWord tw = shm::TaskWord::unpack(shm::load_acquire(t.state));
  if ((tw.gen & 0x0fffffffu) != gen_low || tw.state != shm::TaskState::kQueued || !(t.task_flags & shm::kTaskActor))
    return std::nullopt;
  if (!shm::try_claim_task(t, tw.gen, task_owner_)) return std::nullopt;
  return shm::task_ref(idx, tw.gen);
}

void WorkerRuntime::idle_actor() {
  const std::uint64_t until = shm::now_ns() + kActorSpinNs;
  while (shm::now_ns() < until && control_.empty()) shm::cpu_relax();
  if (!control_.empty()) return;
  bool wake = false;
  {
    std::lock_guard lock(mu_);
    wake = flush_releases_locked();  // an idle actor must not sit on references
  }
  if (wake) ring_doorbell();
  const std::uint32_t seen = shm::atom(ctl_.wake).load(std::memory_order_seq_cst);
  shm::atom(ctl_.state).store(std::uint32_t(shm::WorkerState::kSleeping), std::memory_order_seq_cst);
  shm::full_fence();  // our state before the ring: pairs with the driver's push, fence, state check
  bool timed_out = false;
  if (control_.empty())
    timed_out = !shm::futex_wait(&ctl_.wake, seen, std::chrono::nanoseconds(trimmed_ ? -1 : kTrimIdleNs));
  if (timed_out && !trimmed_) {
    ::malloc_trim(0);
    trimmed_ = true;
  }
  std::uint32_t st = std::uint32_t(shm::WorkerState::kSleeping);
  shm::cas(ctl_.state, st, std::uint32_t(shm::WorkerState::kIdle));
}

void WorkerRuntime::keep_actor(void* self, void (*destroy)(void*)) {
  if (actor_self_ && actor_destroy_) actor_destroy_(actor_self_);  // a second factory call (forged): one object
  actor_self_ = self;
  actor_destroy_ = destroy;
}

void WorkerRuntime::stop_actor() {
  // Its destructor may drop refs it holds: they are released after it, then we leave.
  if (actor_self_ && actor_destroy_) actor_destroy_(std::exchange(actor_self_, nullptr));
  bool wake = false;
  {
    std::lock_guard lock(mu_);
    wake = flush_releases_locked();
  }
  if (wake) ring_doorbell();
  std::fflush(nullptr);
  ::_exit(0);
}

}  // namespace shmray::worker
