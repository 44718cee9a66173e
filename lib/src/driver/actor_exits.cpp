// What an actor's end means. Its process died: the call it was running is retried on the
// restarted actor while max_task_retries allows, else fails with ActorDiedError; calls sent
// but not started are sent again (they never ran, so nothing is lost or run twice); the
// actor restarts (its factory again, its state lost) while max_restarts allows, else it is
// dead and every call fails at once. Its last handle went: once every call sent before ran,
// it is told to stop (its destructor runs) and its exit is the end. Holds of a num_cpus > 0
// actor keep pool CPUs until it is dead.
#include <algorithm>
#include <cstring>

#include "common/task_slot.hpp"
#include "driver/driver.hpp"
#include "shm/futex.hpp"
#include "shmray/detail/registry.hpp"
#include "shmray/errors.hpp"

namespace shmray::driver {
namespace {
constexpr std::uint32_t kActorForkTries = 5;  // a second apart (the pool's respawn delay)
}  // namespace

bool Driver::actor_restartable(const ActorInfo& a) const {
  return a.state != ActorState::kDead && !a.kill_requested && !a.stop_sent && pool_.broken().empty() &&
         !stopping_.load(std::memory_order_acquire) &&
         (a.max_restarts < 0 || a.restarts < static_cast<std::uint32_t>(a.max_restarts));
}

void Driver::recover_actor_task_locked(std::uint32_t idx, shm::TaskWord tw, const shm::ExitReport& r) {
  TaskInfo& info = tasks_[idx];
  shm::TaskSlot& slot = v_.tasks[idx];
  ActorInfo* a = actors_.find(info.actor);
  const bool restart = a && actor_restartable(*a);
  // A creation that crashed runs again with the restart (the restart is what max_restarts counts).
  const bool retry = restart && (info.actor_creation || info.max_retries < 0 ||
                                 slot.attempt < static_cast<std::uint32_t>(info.max_retries));
  if (retry) {
    if (!info.actor_creation) ++slot.attempt, bump(counters_.retries);
    tw.state = shm::TaskState::kWaiting;
    tw.owner = 0;
    shm::store_release(slot.state, tw.pack());
    return queue_task_locked(idx);  // sent again once the new process is there (restart_actor_locked)
  }
  const detail::FunctionInfo* fn = detail::function_at(slot.function);
  ActorInfo why;
  why.name = a ? a->name : std::string();
  why.death = "its process (pid " + std::to_string(r.pid) + ") " + describe_exit(r.status) + " while running " +
              (fn ? fn->name : std::string("?"));
  if (restart)
    why.death += "; the call had no retry left (max_task_retries=" + std::to_string(info.max_retries) + ")";
  else if (a && a->kill_requested)
    why.death = "killed by shmray::kill";
  const std::string payload = actor_died_payload(why);
  fail_task_locked(idx, std::as_bytes(std::span(payload.data(), payload.size())));
}

void Driver::on_actor_exit_locked(const shm::ExitReport& r) {
  ActorInfo* a = actors_.by_slot(r.slot);
  if (!a) return;
  if (is_fork_failure(r)) return on_actor_fork_failure_locked(*a, r.pid);
  a->fork_failures = 0;  // a process of it ran
  if (actor_restartable(*a)) return restart_actor_locked(*a);
  if (a->state != ActorState::kDead) {
    a->state = ActorState::kDead;
    if (a->stop_sent)
      a->death = "it was stopped (its last handle was dropped)";
    else if (!pool_.broken().empty())
      a->death = pool_.broken();
    else
      a->death =
          "its process (pid " + std::to_string(r.pid) + ") " + describe_exit(r.status) +
          (a->max_restarts == 0 ? std::string("; it has max_restarts=0")
                                : "; no restart was left (max_restarts=" + std::to_string(a->max_restarts) + ")");
    if (!a->stop_sent && !a->kill_requested && pool_.broken().empty() && !stopping_.load(std::memory_order_acquire))
      log(LogLevel::error, "shmray: the actor" + (a->name.empty() ? std::string() : " '" + a->name + "'") +
                               " died: " + a->death);  // the crash report
  }
  bury_actor_locked(*a);
}

void Driver::on_actor_fork_failure_locked(ActorInfo& a, int err) {
  // No process came (a pids limit, no memory): nothing of it ran, so this is no restart and
  // costs none of max_restarts. What it was sent goes again to the next try, a second later
  // (a hot loop of forks would only make the shortage worse); after kActorForkTries in a row
  // the actor is dead, with the errno and the fix in its ActorDiedError.
  const bool wanted = a.state != ActorState::kDead && !a.kill_requested && pool_.broken().empty() &&
                      !stopping_.load(std::memory_order_acquire);
  if (wanted && ++a.fork_failures < kActorForkTries) {
    for (auto& [caller, q] : a.queues) q.unsent = 0;
    a.creation_sent = false;
    a.stop_sent = false;  // its stop, if sent, reached no process: it goes again after the calls
    return pool_.retry_fork_later_locked(a.slot);
  }
  if (a.state != ActorState::kDead) {
    a.state = ActorState::kDead;
    a.death = "its process could not be started: fork failed " + std::to_string(a.fork_failures) + " times in a row (" +
              std::strerror(err) +
              "); raise the pids limit (ulimit -u, the cgroup's pids.max) or start fewer processes";
  }
  bury_actor_locked(a);
}

void Driver::respawn_actor_locked(std::uint32_t slot) {
  // The retry after a failed fork is due (watch_pool_locked).
  ActorInfo* a = actors_.by_slot(slot);
  if (!a) return;
  if (a->state == ActorState::kDead || a->kill_requested) return bury_actor_locked(*a);  // killed meanwhile
  request_spawn(slot);
  pump_actor_locked(*a);
}

void Driver::restart_actor_locked(ActorInfo& a) {
  ++a.restarts;
  bump(counters_.restarts);
  a.state = ActorState::kRestarting;
  for (auto& [caller, q] : a.queues) q.unsent = 0;  // what the dead process had not started goes again
  a.creation_sent = false;
  request_spawn(a.slot);
  if (!tasks_.current(a.creation)) {  // it was alive: run its factory again, for a result of our own
    a.restart_result = objects_.allocate_object_locked();
    submit_creation_locked(a, a.restart_result);
  }
  pump_actor_locked(a);
}

void Driver::bury_actor_locked(ActorInfo& a) {
  fail_actor_calls_locked(a);
  actors_.drop_name(a);
  actors_.release_slot(a);
  if (a.lifetime.value) {  // its holds end: the pool's CPUs are free again
    objects_.write_payload_locked(a.lifetime, shm::ObjectState::kReady, {});
    on_final_locked(a.lifetime);
    release_locked(std::exchange(a.lifetime, ObjectId{}));
  }
  std::vector<ObjectId> pins = std::move(a.pins);
  a.pins.clear();
  const bool detached = std::exchange(a.detached, false);
  const ObjectId id = a.id;
  a.buried = true;
  if (a.unreferenced) actors_.erase(id);  // no handle is left to ask about it
  for (ObjectId p : pins) release_locked(p);
  if (detached) release_locked(id);  // may free its id: settle_actors_locked forgets it then
}

void Driver::fail_actor_calls_locked(ActorInfo& a) {
  const std::string payload = actor_died_payload(a);
  const auto bytes = std::as_bytes(std::span(payload.data(), payload.size()));
  std::vector<wire::TaskRef> refs;
  for (auto& [caller, q] : a.queues) refs.insert(refs.end(), q.calls.begin(), q.calls.end());
  a.queues.clear();
  if (tasks_.current(a.creation)) refs.push_back(a.creation);
  a.creation = {};
  for (wire::TaskRef ref : refs)
    if (tasks_.current(ref)) fail_live_task_locked(ref.index(), bytes);
}

void Driver::settle_actors_locked() {
  for (ObjectId id : actors_.take_unreferenced()) {
    ActorInfo* a = actors_.find(id);
    if (!a) continue;
    if (a->buried) {
      actors_.erase(id);
      continue;
    }
    actors_.drop_name(*a);  // the name is free for a new actor while this one drains
    if (a->detached) continue;
    pump_actor_locked(*a);  // sends the stop once every call is sent
  }
}

void Driver::hold_cpus_for_actor_locked(ActorInfo& a) {
  // Holds (as a num_cpus > 1 task's) that last until `lifetime` is final: at the actor's death.
  a.lifetime = objects_.allocate_object_locked();
  for (std::uint32_t k = 0; k < a.cpus && tasks_.free_slots() > driver_task_reserve(); ++k)
    push_hold_locked(a.lifetime, 0);
  wake_worker();
}

}  // namespace shmray::driver
