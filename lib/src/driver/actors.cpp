// Actors in the driver: creating one (a process of its own in an actor slot, its factory's
// call queued first on its control ring), method calls (tasks in the table flagged
// kTaskActor, kept per caller in submission order and sent to the actor's ring once their
// arguments are final), lookup by name, kill. Deaths and restarts: actor_exits.cpp.
#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <thread>

#include "common/checks.hpp"
#include "driver/driver.hpp"
#include "shm/futex.hpp"
#include "shmray/detail/registry.hpp"
#include "shmray/errors.hpp"
#include "wire/control.hpp"
#include "wire/descriptor.hpp"

namespace shmray::driver {

namespace {

std::string function_label(std::uint32_t index) {
  const detail::FunctionInfo* fn = detail::function_at(index);
  return fn ? fn->name : "?";
}

// The message of the error record a failed object holds.
std::string failure_message(const common::Views& v, ObjectId id) {
  std::span<const std::byte> err;
  v.payload(v.objects[id.index()], err);
  try {
    return wire::decode_error(err).message;
  } catch (const std::exception&) {
    return "(an unreadable error record)";
  }
}

}  // namespace

std::string Driver::actor_died_payload(const ActorInfo& a) const {
  wire::ErrorRecord e;
  e.kind = wire::ErrorKind::kActorDied;
  e.message = "shmray: the actor" + (a.name.empty() ? std::string() : " '" + a.name + "'") + " is dead: " + a.death;
  return wire::encode(e);
}

std::string Driver::gone_payload(ObjectId actor) const {
  ActorInfo gone;
  const std::string why = actors_.refusal(actor);
  gone.death = why.empty() ? "no such actor (a handle of an earlier init()?)" : "it could not be created: " + why;
  return actor_died_payload(gone);
}

ObjectId Driver::create_actor(const detail::SubmitRequest& req, const ActorOptions& opt) {
  const detail::FunctionInfo& fn =
      common::checked_function(req.function, detail::FunctionKind::kFactory, "shmray::actor");
  const std::uint32_t cpus = common::checked_actor_cpus(opt);
  common::checked_descriptor_size(req.resolve.size(), req.args.size(), opt.name, v_.geo.arena_bytes, fn.name);
  for (ObjectId id : req.resolve) objects_.check_live(id);
  for (ObjectId id : req.contained) objects_.check_live(id);
  ActorInfo a;
  a.factory = req.function;
  a.class_type = fn.class_type;
  a.name = opt.name;
  a.max_restarts = opt.max_restarts;
  a.max_task_retries = opt.max_task_retries;
  a.detached = opt.detached;
  a.desc = wire::make_descriptor(req.resolve, req.args, opt.name);
  a.resolve = static_cast<std::uint32_t>(req.resolve.size());
  a.cpus = cpus;
  std::unique_lock lock(mu_);
  if (!pool_.broken().empty()) throw PoolError(pool_.broken());
  if (events_pending()) pump_locked();
  wait_for_actor_slot(lock);
  if (cpus > v_.geo.num_workers)
    throw std::invalid_argument("shmray::actor: ActorOptions::num_cpus=" + std::to_string(opt.num_cpus) +
                                " is more than the pool's " + std::to_string(v_.geo.num_workers) + " CPU slots");
  const auto slot = admit_actor_locked(a.name);
  a.id = objects_.allocate_object_locked();  // the caller's handle
  a.slot = *slot;
  for (ObjectId id : req.resolve) objects_.add_ref_locked(id), a.pins.push_back(id);
  for (ObjectId id : req.contained) objects_.add_ref_locked(id), a.pins.push_back(id);
  const ObjectId id = a.id;
  start_actor_locked(std::move(a), true);
  return id;
}

void Driver::wait_for_actor_slot(std::unique_lock<std::mutex>& lock) {
  // Every slot taken, but some actor is ending (its last handle went, it was killed): its
  // process is about to leave. A program that drops an actor and makes a new one must not
  // see "too many actors" for the moment that takes.
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!actors_.free_slot() && actors_.any_ending() && std::chrono::steady_clock::now() < until) {
    throw_if_closing();
    lock.unlock();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    lock.lock();
    pump_locked();
  }
}

std::optional<std::uint32_t> Driver::admit_actor_locked(const std::string& name) {
  if (!name.empty() && actors_.by_name(name))
    throw std::invalid_argument("shmray::actor: an actor named '" + name +
                                "' is alive; give another name, or use shmray::get_actor to reach it");
  auto slot = actors_.free_slot();
  if (!slot)
    throw Error("shmray::actor: " + std::to_string(actors_.capacity()) +
                " actors are alive (Options::max_actors); raise max_actors, or kill or drop actors you are done with");
  return slot;
}

ActorInfo& Driver::start_actor_locked(ActorInfo info, bool submit_creation) {
  if (info.detached) objects_.add_ref_locked(info.id);  // held until it is dead
  ActorInfo& a = actors_.add(std::move(info));
  request_spawn(a.slot);
  if (a.cpus > 0) hold_cpus_for_actor_locked(a);
  if (submit_creation) submit_creation_locked(a, a.id);
  return a;
}

void Driver::submit_creation_locked(ActorInfo& a, ObjectId result) {
  BacklogTask t;
  t.result = result;
  objects_.add_ref_locked(result);  // the producer pin
  t.function = a.factory;
  t.desc = a.desc;
  t.resolve = a.resolve;
  t.info.result = result;
  t.info.max_retries = 0;
  t.info.cpus = 0;
  t.info.actor = a.id;
  t.info.actor_creation = true;
  t.info.name = a.name;
  for (ObjectId p : a.pins) objects_.add_ref_locked(p), t.info.pins.push_back(p);
  a.creation = {};
  a.creation_sent = false;
  enqueue_locked(std::move(t));
}

ObjectId Driver::submit_method(ObjectId actor, const detail::SubmitRequest& req) {
  const detail::FunctionInfo& fn = common::checked_function(req.function, detail::FunctionKind::kMethod, "handle.task");
  BacklogTask t = prepare_submission(req, fn.name, 0);
  std::lock_guard lock(mu_);
  if (!pool_.broken().empty()) throw PoolError(pool_.broken());
  if (events_pending()) pump_locked();
  ActorInfo* a = actors_.find(actor);
  if (a && a->class_type != fn.class_type)
    throw std::invalid_argument("shmray: handle.task(&C::" + fn.name + "): the actor's object is not a C");
  pin_submission_locked(t, req);
  t.info.actor = actor;
  t.info.caller = 0;
  const ObjectId result = t.result;
  if (!a || a->state == ActorState::kDead) {
    fail_waiting_locked(std::move(t), a ? actor_died_payload(*a) : gone_payload(actor));
    return result;
  }
  t.info.max_retries = a->max_task_retries;
  enqueue_locked(std::move(t));
  return result;
}

ObjectId Driver::get_actor(std::string_view name, std::string_view class_type) {
  std::lock_guard lock(mu_);
  if (events_pending()) pump_locked();
  const ObjectId id = lookup_actor_locked(std::string(name), class_type);
  objects_.add_ref_locked(id);
  return id;
}

ObjectId Driver::lookup_actor_locked(const std::string& name, std::string_view class_type) {
  ActorInfo* a = actors_.by_name(name);
  if (!a) throw ActorNotFoundError("shmray::get_actor: no live actor is named '" + name + "'");
  if (a->class_type != class_type)
    throw ActorNotFoundError("shmray::get_actor<T>(\"" + name + "\"): that actor's object is a " +
                             wire::demangle(a->class_type.c_str()) + ", not a " +
                             wire::demangle(std::string(class_type).c_str()));
  return a->id;
}

void Driver::kill_actor(ObjectId actor, bool no_restart) {
  std::lock_guard lock(mu_);
  pump_locked();
  kill_actor_locked(actor, no_restart);
}

void Driver::kill_actor_locked(ObjectId actor, bool no_restart) {
  ActorInfo* a = actors_.find(actor);
  if (!a || a->state == ActorState::kDead) return;
  if (no_restart) {
    a->kill_requested = true;
    a->state = ActorState::kDead;
    a->death = "killed by shmray::kill";
    fail_actor_calls_locked(*a);                        // at once: nothing of it may still run
    actors_.drop_name(*a);                              // its name is free for a new actor now
    push_actor_control_locked(*a, wire::kControlStop);  // a process not started yet leaves at once
  }
  pool_.kill_locked(a->slot);  // its exit report does the rest (a restart when it may)
}

void Driver::note_actor_task_locked(std::uint32_t idx) {
  TaskInfo& info = tasks_[idx];
  ActorInfo* a = actors_.find(info.actor);
  const wire::TaskRef ref = wire::TaskRef::make(idx, info.gen);
  if (!a || a->state == ActorState::kDead) return;  // queue_task_locked fails it
  // Which actor runs it, for the actor itself: a method waiting for a call to its own actor
  // is refused (WorkerRuntime::refuse_wait_on_self), it would wait for ever.
  shm::store_release(v_.tasks[idx].holds, std::uint64_t(a->slot) + 1);
  if (info.actor_creation) {
    a->creation = ref;
    a->creation_sent = false;
  } else {
    a->queues[info.caller].calls.push_back(ref);
  }
}

void Driver::queue_actor_task_locked(std::uint32_t idx) {
  TaskInfo& info = tasks_[idx];
  ActorInfo* a = actors_.find(info.actor);
  if (!a || a->state == ActorState::kDead) {
    const std::string payload = a ? actor_died_payload(*a) : gone_payload(info.actor);
    return fail_live_task_locked(idx, std::as_bytes(std::span(payload.data(), payload.size())));
  }
  pump_actor_locked(*a);
}

void Driver::pump_actor_locked(ActorInfo& a) {
  // Sends what may run: the creation first, then each caller's calls in order up to the first
  // whose arguments are not final (later calls of that caller wait behind it).
  if (a.state == ActorState::kDead || !pool_[a.slot].alive) return;
  bool pushed = false;
  if (!a.creation_sent) {
    if (!tasks_.current(a.creation) || state_of(a.creation) != shm::TaskState::kQueued) return;
    pool_.push_control_locked(a.slot, wire::run_entry(a.creation.value));
    a.creation_sent = pushed = true;
  }
  bool all_sent = true;
  for (auto& [caller, q] : a.queues) {
    while (q.unsent < q.calls.size() && state_of(q.calls[q.unsent]) == shm::TaskState::kQueued) {
      pool_.push_control_locked(a.slot, wire::run_entry(q.calls[q.unsent].value));
      ++q.unsent;
      pushed = true;
    }
    all_sent = all_sent && q.unsent == q.calls.size();
  }
  if (a.unreferenced && !a.detached && all_sent && !a.stop_sent) {
    pool_.push_control_locked(a.slot, wire::kControlStop);  // after every call: they run first
    a.stop_sent = pushed = true;
  }
  if (pushed) {
    shm::full_fence();  // the entries before its state: pairs with the actor going to sleep
    shm::wake_if_sleeping(seg_.worker(a.slot));
  }
}

void Driver::push_actor_control_locked(ActorInfo& a, std::uint64_t entry) {
  if (!pool_[a.slot].alive) return;
  pool_.push_control_locked(a.slot, entry);
  shm::full_fence();
  shm::wake_if_sleeping(seg_.worker(a.slot));
}

shm::TaskState Driver::state_of(wire::TaskRef ref) const {
  const shm::TaskWord tw = shm::TaskWord::unpack(shm::load_acquire(v_.tasks[ref.index()].state));
  return tw.gen == ref.gen() ? tw.state : shm::TaskState::kFree;
}

void Driver::actor_task_finished_locked(const TaskInfo& info, std::uint32_t idx) {
  ActorInfo* a = actors_.find(info.actor);
  if (!a) return;
  const wire::TaskRef ref = wire::TaskRef::make(idx, info.gen);
  if (info.actor_creation) {
    if (a->creation == ref) a->creation = {};
    if (a->restart_result == info.result) a->restart_result = {};
    if (a->state != ActorState::kDead) {
      if (v_.word(v_.objects[info.result.index()]).is(shm::ObjectState::kFailed)) {
        a->state = ActorState::kDead;  // its factory threw: the process leaves by itself
        a->death = "its factory " + function_label(a->factory) + " failed: " + failure_message(v_, info.result);
        fail_actor_calls_locked(*a);
        push_actor_control_locked(*a, wire::kControlStop);  // it has no object: its process leaves
      } else {
        a->state = ActorState::kAlive;
      }
    }
    if (info.result != a->id) release_locked(info.result);  // a restart's creation result: ours
  } else {
    auto it = a->queues.find(info.caller);
    if (it != a->queues.end()) {
      ActorQueue& q = it->second;
      auto pos = std::find(q.calls.begin(), q.calls.end(), ref);
      if (pos != q.calls.end()) {
        if (std::size_t(pos - q.calls.begin()) < q.unsent) --q.unsent;
        q.calls.erase(pos);
      }
      if (q.calls.empty()) a->queues.erase(it);
    }
  }
  pump_actor_locked(*a);
}

}  // namespace shmray::driver
