// The actor calls a task makes (detail::RuntimeApi inside a worker): a method call and an
// actor's creation are tasks written into supplied slots like a nested submission, but left
// kWaiting (never run inline, never claimed by a pool worker: the driver sends them to the
// actor); get_actor asks the driver, which answers in an object slot of our supply; kill.
#include <cstring>

#include "common/checks.hpp"
#include "shm/futex.hpp"
#include "shmray/detail/registry.hpp"
#include "shmray/errors.hpp"
#include "worker/worker_runtime.hpp"

namespace shmray::worker {

ObjectId WorkerRuntime::submit_method(ObjectId actor, const detail::SubmitRequest& req) {
  throw_if_cancelled();
  const detail::FunctionInfo& fn = common::checked_function(req.function, detail::FunctionKind::kMethod, "handle.task");
  common::check_live(v_, actor);
  const Written w = write_task(req, fn.name, 0, true);
  shm::store_release(v_.task(w.ref).state,
                     shm::TaskWord{shm::task_ref_gen(w.ref), shm::TaskState::kWaiting, 0, 0}.pack());
  const std::string& name = req.options->name;
  const wire::ActorCallHeader h{{w.ref, w.result.value, w.parent, static_cast<std::uint32_t>(req.resolve.size()),
                                 static_cast<std::uint32_t>(req.contained.size()), 0, 0, 0,
                                 static_cast<std::uint32_t>(name.size()), 0, shm::now_ns()},
                                actor.value};
  const std::string_view texts[] = {name};
  post_task(wire::MsgType::kActorCall, std::as_bytes(std::span(&h, 1)), req, texts);
  ring_doorbell();  // only the driver can send it on
  return w.result;
}

ObjectId WorkerRuntime::create_actor(const detail::SubmitRequest& req, const ActorOptions& options) {
  throw_if_cancelled();
  const detail::FunctionInfo& fn =
      common::checked_function(req.function, detail::FunctionKind::kFactory, "shmray::actor");
  const std::uint32_t cpus = common::checked_actor_cpus(options);
  const Written w = write_task(req, fn.name, 0, true);
  shm::store_release(v_.task(w.ref).state,
                     shm::TaskWord{shm::task_ref_gen(w.ref), shm::TaskState::kWaiting, 0, 0}.pack());
  const std::string& name = req.options->name;
  const wire::ActorCreateHeader h{{w.ref, w.result.value, w.parent, static_cast<std::uint32_t>(req.resolve.size()),
                                   static_cast<std::uint32_t>(req.contained.size()), 0, 0, 0,
                                   static_cast<std::uint32_t>(name.size()), 0, shm::now_ns()},
                                  options.max_restarts,
                                  options.max_task_retries,
                                  cpus,
                                  options.detached ? 1u : 0u,
                                  static_cast<std::uint32_t>(options.name.size()),
                                  0};
  const std::string_view texts[] = {name, options.name};
  post_task(wire::MsgType::kActorCreate, std::as_bytes(std::span(&h, 1)), req, texts);
  ring_doorbell();
  return w.result;  // the actor's id: our reference to it is the handle's
}

ObjectId WorkerRuntime::get_actor(std::string_view name, std::string_view class_type) {
  throw_if_cancelled();
  if (name.size() > 4096) throw ActorNotFoundError("shmray::get_actor: no actor has a name that long");
  const std::uint32_t obj = take_supply(object_supply_, false);
  const ObjectId reply = ObjectId::make(v_.session, v_.word(v_.objects[obj]).gen, obj);
  const wire::ActorLookup l{reply.value, static_cast<std::uint32_t>(name.size()),
                            static_cast<std::uint32_t>(class_type.size())};
  const std::span<const std::byte> parts[] = {std::as_bytes(std::span(&l, 1)),
                                              std::as_bytes(std::span(name.data(), name.size())),
                                              std::as_bytes(std::span(class_type.data(), class_type.size()))};
  post_parts(wire::MsgType::kActorLookup, parts);
  ring_doorbell();
  struct Drop {  // the answer is ours to release, whatever happens
    WorkerRuntime& rt;
    ObjectId id;
    ~Drop() { rt.release(id); }
  } drop{*this, reply};
  const std::span<const std::byte> bytes = fetch(reply, detail::Deadline::never());  // throws ActorNotFoundError
  std::uint64_t raw = 0;
  if (bytes.size() != sizeof raw) throw SerializationError("shmray::get_actor: a malformed answer");
  std::memcpy(&raw, bytes.data(), sizeof raw);
  add_ref(ObjectId{raw});  // before the answer (which holds it) goes
  return ObjectId{raw};
}

void WorkerRuntime::kill_actor(ObjectId actor, bool no_restart) {
  common::check_live(v_, actor);
  const wire::ActorKill k{actor.value, no_restart ? 1u : 0u, 0};
  post(wire::MsgType::kActorKill, std::as_bytes(std::span(&k, 1)));
  ring_doorbell();
}

}  // namespace shmray::worker
