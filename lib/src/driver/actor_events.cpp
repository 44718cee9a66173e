// Actor requests a worker makes inside a task (wire/messages.hpp): a method call and an
// actor's creation (tasks it wrote into slots the driver supplied, left kWaiting: only the
// driver sends them on), get_actor (answered in an object slot the worker waits on) and kill.
// Read as untrusted bytes, like every worker message.
#include <algorithm>
#include <string>

#include "common/checks.hpp"
#include "driver/driver.hpp"
#include "shmray/detail/registry.hpp"
#include "shmray/errors.hpp"

namespace shmray::driver {

namespace {
// Takes `n` bytes off the front of `p` as a string; false when too short.
bool read_text(std::span<const std::byte>& p, std::size_t n, std::string& out) {
  if (p.size() < n) return false;
  out.assign(reinterpret_cast<const char*>(p.data()), n);
  p = p.subspan(n);
  return true;
}
constexpr ObjectId kNoActor{~std::uint64_t{0}};  // names no actor: the call fails as one to a gone actor
}  // namespace

void Driver::handle_actor_message_locked(std::uint32_t w, wire::MsgType type, std::span<const std::byte> p) {
  std::vector<ObjectId> resolve, contained;
  std::string name, other;
  switch (type) {
    case wire::MsgType::kActorCall: {
      auto h = wire::read_front<wire::ActorCallHeader>(p);
      if (!h || !wire::read_ids(p, h->task.resolve, resolve) || !wire::read_ids(p, h->task.contained, contained) ||
          !read_text(p, h->task.name_size, name))
        return;
      adopt_actor_call_locked(w, *h, resolve, contained, std::move(name));
      return;
    }
    case wire::MsgType::kActorCreate: {
      auto h = wire::read_front<wire::ActorCreateHeader>(p);
      if (!h || !wire::read_ids(p, h->task.resolve, resolve) || !wire::read_ids(p, h->task.contained, contained) ||
          !read_text(p, h->task.name_size, name) || !read_text(p, h->actor_name_size, other))
        return;
      adopt_actor_create_locked(w, *h, resolve, contained, std::move(name), std::move(other));
      return;
    }
    case wire::MsgType::kActorLookup: {
      auto l = wire::read_front<wire::ActorLookup>(p);
      if (!l || !read_text(p, l->name_size, name) || !read_text(p, l->class_size, other)) return;
      answer_actor_lookup_locked(w, ObjectId{l->reply}, name, other);
      return;
    }
    case wire::MsgType::kActorKill: {
      auto k = wire::read_front<wire::ActorKill>(p);
      if (k && accept_worker_ref_locked(w, ObjectId{k->actor}))
        kill_actor_locked(ObjectId{k->actor}, k->no_restart != 0);
      return;
    }
    default: return;
  }
}

void Driver::adopt_actor_call_locked(std::uint32_t w, const wire::ActorCallHeader& h, std::span<const ObjectId> resolve,
                                     std::span<const ObjectId> contained, std::string name) {
  ObjectId actor{h.actor};
  // A method of another class than the actor's object, or no actor at all (id 0 would make
  // it a pool task, whose worker has no object): only a forged message can say so.
  const ActorInfo* a = actors_.find(actor);
  const detail::FunctionInfo* fn = v_.valid_task_ref(h.task.task_ref)
                                       ? detail::function_at(v_.tasks[shm::task_ref_index(h.task.task_ref)].function)
                                       : nullptr;
  if (!actor.value || (a && (!fn || fn->kind != detail::FunctionKind::kMethod || fn->class_type != a->class_type)))
    actor = kNoActor;
  adopt_worker_task_locked(w, h.task, resolve, contained, std::move(name), actor, false);
}

void Driver::adopt_actor_create_locked(std::uint32_t w, const wire::ActorCreateHeader& h,
                                       std::span<const ObjectId> resolve, std::span<const ObjectId> contained,
                                       std::string task_name, std::string actor_name) {
  // Before anything starts: a forged message could name another actor's id or leave an
  // actor started with no creation to run.
  if (!supplied_locked(w, h.task)) return;
  const shm::TaskSlot& slot = v_.tasks[shm::task_ref_index(h.task.task_ref)];
  const ObjectId id{h.task.result};
  ActorInfo a;
  std::string refusal;
  try {
    const detail::FunctionInfo* fn = detail::function_at(slot.function);
    if (!fn || fn->kind != detail::FunctionKind::kFactory) throw std::invalid_argument("not an actor factory");
    ActorOptions o;
    o.name = actor_name;
    o.max_restarts = h.max_restarts;
    o.max_task_retries = h.max_task_retries;
    o.num_cpus = h.cpus;
    o.detached = h.detached != 0;
    a.cpus = common::checked_actor_cpus(o);
    if (a.cpus > v_.geo.num_workers) throw std::invalid_argument("ActorOptions::num_cpus is more than the pool has");
    a.slot = *admit_actor_locked(actor_name);
    a.factory = slot.function;
    a.class_type = fn->class_type;
    a.max_restarts = o.max_restarts;
    a.max_task_retries = o.max_task_retries;
    a.detached = o.detached;
  } catch (const std::exception& e) {
    refusal = e.what();
  }
  if (!refusal.empty() || !v_.live(id)) {
    actors_.refuse(id, refusal);  // not in the table: its creation fails saying why, so do calls to it
    adopt_worker_task_locked(w, h.task, resolve, contained, std::move(task_name), id, true);
    return;
  }
  const std::span<const std::byte> desc = v_.descriptor(slot);
  a.desc.assign(reinterpret_cast<const char*>(desc.data()), desc.size());
  a.id = id;
  a.name = std::move(actor_name);
  a.resolve = static_cast<std::uint32_t>(objects_.pin_worker_refs_locked(pool_[w].pid, resolve, a.pins));
  objects_.pin_worker_refs_locked(pool_[w].pid, contained, a.pins);
  start_actor_locked(std::move(a), false);
  adopt_worker_task_locked(w, h.task, resolve, contained, std::move(task_name), id, true);
}

void Driver::answer_actor_lookup_locked(std::uint32_t w, ObjectId reply, const std::string& name,
                                        const std::string& class_type) {
  WorkerEnd& we = pool_[w];
  auto oi = std::find(we.supplied_objects.begin(), we.supplied_objects.end(), reply.index());
  if (oi == we.supplied_objects.end() || !v_.live(reply)) return;  // not its to use
  we.supplied_objects.erase(oi);
  ++we.holds[reply.value];  // the supply pin becomes the worker's reference
  try {
    const ObjectId id = lookup_actor_locked(name, class_type);
    const std::uint64_t raw = id.value;
    objects_.add_ref_locked(id);  // the answer holds the actor until the worker took its own reference
    objects_.contained_locked(reply).push_back(id);
    objects_.write_payload_locked(reply, shm::ObjectState::kReady, std::as_bytes(std::span(&raw, 1)));
  } catch (const ActorNotFoundError& e) {
    wire::ErrorRecord r;
    r.kind = wire::ErrorKind::kActorNotFound;
    r.message = e.what();
    const std::string payload = wire::encode(r);
    objects_.write_payload_locked(reply, shm::ObjectState::kFailed,
                                  std::as_bytes(std::span(payload.data(), payload.size())));
  }
  on_final_locked(reply);
}

}  // namespace shmray::driver
