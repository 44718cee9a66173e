// libshmray_ray, actors: RAY_REMOTE's factories and member functions in shmray's registry
// (as FunctionKind::kFactory / kMethod, with this layer's msgpack invokers), and
// ray::Actor / handle.Task / ray::GetActor / Kill on shmray's actor calls of RuntimeApi.
#include <ray/api/backend.h>
#include <ray/api/ray_exception.h>

#include "bridge.hpp"

#include <cstring>
#include <optional>
#include <string>

#include "shmray/detail/invoke.hpp"
#include "shmray/detail/registry.hpp"
#include "shmray/detail/runtime_api.hpp"
#include "shmray/errors.hpp"

namespace ray::internal::backend {
namespace {

namespace sd = shmray::detail;

sd::MethodKey KeyOf(const unsigned char (&key)[kMethodKeyBytes]) {
  static_assert(sizeof(sd::MethodKey) == kMethodKeyBytes);
  sd::MethodKey k{};
  std::memcpy(k.data(), key, kMethodKeyBytes);
  return k;
}

[[noreturn]] void ThrowShmrayOwned(const char* what) {
  throw RayFunctionNotFound(std::string(what) +
                            ": registered with SHMRAY_REMOTE (first), whose invoker reads shmray's argument "
                            "format; register it with RAY_REMOTE only");
}

}  // namespace

bool RegisterFactory(const char* name, AnyFn fn, Invoker invoke, const char* signature, const char* class_type,
                     void (*destroy)(void*)) {
  sd::FunctionInfo info{name, fn, invoke, signature};
  info.kind = sd::FunctionKind::kFactory;
  info.class_type = class_type;
  info.destroy = destroy;
  return sd::register_function(std::move(info));
}

bool RegisterMethod(const char* name, const unsigned char (&key)[kMethodKeyBytes], MethodInvoker invoke,
                    const char* signature, const char* class_type) {
  sd::FunctionInfo info{name, nullptr, nullptr, signature};
  info.kind = sd::FunctionKind::kMethod;
  info.class_type = class_type;
  info.method = KeyOf(key);
  info.invoke_method = invoke;
  return sd::register_function(std::move(info));
}

// shmray keeps the first registration of a factory or method: one of SHMRAY_REMOTE has an
// invoker that reads shmray's argument format, and is not ours to call.
std::uint32_t FactoryIndex(AnyFn fn, Invoker invoke) {
  const std::optional<std::uint32_t> i = sd::function_index(fn);
  const sd::FunctionInfo* info = i ? sd::function_at(*i) : nullptr;
  if (!info || info->kind != sd::FunctionKind::kFactory)
    throw RayFunctionNotFound(
        "ray::Actor: this factory is not registered; add RAY_REMOTE(Create) (a function returning T*)");
  if (info->invoke != invoke) ThrowShmrayOwned("ray::Actor: this factory is");
  return *i;
}

std::uint32_t MethodIndex(const unsigned char (&key)[kMethodKeyBytes], const char* signature, MethodInvoker invoke) {
  const std::optional<std::uint32_t> i = sd::method_index(KeyOf(key), signature);
  if (!i)
    throw RayFunctionNotFound(
        "handle.Task(&T::Method): this member function is not registered; add RAY_REMOTE(&T::Method)");
  if (sd::function_at(*i)->invoke_method != invoke) ThrowShmrayOwned("handle.Task(&T::Method): this method is");
  return *i;
}

std::uint64_t CreateActor(std::uint32_t factory, const CallArgs& args, const ActorSpec& spec) {
  shmray::ActorOptions options;
  options.name = spec.name;
  options.max_restarts = spec.max_restarts;
  bool lacking = false;
  options.num_cpus = bridge::CpusOf(spec.resources, options.num_cpus, lacking);
  // Ray would keep the actor pending until a node offers it; a call on it would wait for
  // good. Refused at once instead: nothing here could ever give it.
  if (lacking)
    throw RayException(
        "ray::Actor(...).Remote: a resource other than CPU was asked for; shmray runs on this "
        "machine's CPUs only");
  // The factory's call is not retried on its own: a restart (max_restarts) runs it again.
  shmray::TaskOptions task_options;
  task_options.name = spec.name;
  task_options.max_retries = 0;
  try {
    const bridge::Request r(factory, args, task_options);
    sd::RuntimeCall rt;
    return rt->create_actor(r.req, options).value;
  } catch (...) {
    bridge::RethrowAsRay();
  }
}

std::uint64_t CallActor(std::uint64_t actor, std::uint32_t method, const CallArgs& args, const TaskSpec& spec) {
  shmray::TaskOptions options;  // the actor's own retries (max_task_retries) apply
  options.name = spec.name;
  try {
    const bridge::Request r(method, args, options);
    sd::RuntimeCall rt;
    return rt->submit_method(sd::ObjectId{actor}, r.req).value;
  } catch (...) {
    bridge::RethrowAsRay();
  }
}

std::uint64_t GetActor(const std::string& name, const char* class_type) {
  try {
    sd::RuntimeCall rt;
    return rt->get_actor(name, class_type).value;
  } catch (const shmray::ActorNotFoundError&) {
    return 0;  // Ray: an empty optional
  } catch (...) {
    bridge::RethrowAsRay();
  }
}

void KillActor(std::uint64_t actor, bool no_restart) {
  try {
    sd::RuntimeCall rt;
    rt->kill_actor(sd::ObjectId{actor}, no_restart);
  } catch (...) {
    bridge::RethrowAsRay();
  }
}

std::uint64_t AcquireRef(std::uint64_t id) {
  try {
    sd::RuntimeCall rt;
    rt->add_ref(sd::ObjectId{id});
    return id;
  } catch (...) {
    bridge::RethrowAsRay();
  }
}

void SetActorInstance(shmray::detail::TaskCall& call, void* self, void (*destroy)(void*)) {
  call.set_actor_instance(self, destroy);
}

}  // namespace ray::internal::backend
