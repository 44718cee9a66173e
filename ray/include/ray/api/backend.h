#pragma once
/// @file backend.h
/// The seam between these C++17 headers and libshmray_ray (built as C++20 on shmray's
/// detail::RuntimeApi). Values cross it as msgpack bytes, ids as 64-bit integers; every
/// function throws only ray::internal exceptions (or std::bad_alloc).
/// Not part of Ray's API: user code does not call these.
#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include <ray/api/ray_config.h>

namespace shmray {
namespace detail {
class TaskCall;  // what a worker gives a task's invoker (shmray/detail/invoke.hpp)
}  // namespace detail
}  // namespace shmray

namespace ray {
namespace internal {
namespace backend {

/// Bytes of a stored object, readable while a reference to it is held.
struct Bytes {
  const char* data = nullptr;
  std::size_t size = 0;
};

/// A value to store: `size` bytes that `write` produces into the memory it is given
/// (the object store itself: no intermediate buffer). `contained`: ids of the ActorHandles
/// inside the value, which the stored object keeps alive.
struct Payload {
  std::size_t size = 0;
  void (*write)(const void* ctx, char* into, std::size_t n) = nullptr;
  const void* ctx = nullptr;
  const std::vector<std::uint64_t>* contained = nullptr;
};

using AnyFn = void (*)();
using Invoker = void (*)(AnyFn fn, shmray::detail::TaskCall& call);
/// Calls the member function whose pointer's bytes are `method` on an actor's object `self`.
using MethodInvoker = void (*)(const std::byte* method, void* self, shmray::detail::TaskCall& call);
/// Bytes of a member function pointer (as shmray names a method across processes).
constexpr std::size_t kMethodKeyBytes = 16;

/// Options of one submission, as TaskCaller collected them.
struct TaskSpec {
  std::string name;
  std::unordered_map<std::string, double> resources;
};

/// Options of an actor, as ActorCreator collected them.
struct ActorSpec {
  std::string name;
  int max_restarts = 0;
  std::unordered_map<std::string, double> resources;
};

/// A call's encoded arguments: `args` in this layer's argument format (see ray_remote.h),
/// `resolve` the ids the worker reads as values, `contained` the ids of ActorHandles passed
/// (the task holds them while it lives).
struct CallArgs {
  std::string args;
  std::vector<std::uint64_t> resolve;
  std::vector<std::uint64_t> contained;
};

void Init(const RayConfig& config, int argc, char** argv);
void Shutdown() noexcept;
bool IsInitialized() noexcept;

/// Registers a function under `name` (before main, from RAY_REMOTE); true.
bool Register(const char* name, AnyFn fn, Invoker invoke, const char* signature);
/// The registry index of `fn`; throws RayFunctionNotFound when no RAY_REMOTE named it.
std::uint32_t FunctionIndex(AnyFn fn);
/// Registers an actor factory (`T* f(...)`): `class_type` is typeid(T).name(), `destroy`
/// deletes what it made. True.
bool RegisterFactory(const char* name, AnyFn fn, Invoker invoke, const char* signature, const char* class_type,
                     void (*destroy)(void*));
/// Registers a member function of class `class_type` by its pointer's bytes. True.
bool RegisterMethod(const char* name, const unsigned char (&key)[kMethodKeyBytes], MethodInvoker invoke,
                    const char* signature, const char* class_type);
/// The registry index of a factory / method that RAY_REMOTE registered with `invoke`;
/// throws RayFunctionNotFound otherwise (saying so when SHMRAY_REMOTE registered it).
std::uint32_t FactoryIndex(AnyFn fn, Invoker invoke);
std::uint32_t MethodIndex(const unsigned char (&key)[kMethodKeyBytes], const char* signature, MethodInvoker invoke);

/// Submits a task of a function; the result's id carries one reference owned by the caller.
std::uint64_t Submit(std::uint32_t function, const CallArgs& args, const TaskSpec& spec);
/// Starts an actor (its factory's call); the actor's id carries one reference owned by the
/// caller. Throws RayException for a resource this machine lacks or a name taken.
std::uint64_t CreateActor(std::uint32_t factory, const CallArgs& args, const ActorSpec& spec);
/// Queues a call of `method` on `actor`; the result's id carries one reference.
std::uint64_t CallActor(std::uint64_t actor, std::uint32_t method, const CallArgs& args, const TaskSpec& spec);
/// The live actor named `name` whose object is a `class_type`, with one reference; 0 when none.
std::uint64_t GetActor(const std::string& name, const char* class_type);
/// Kills the actor's process; with `no_restart` false it restarts when max_restarts allows.
void KillActor(std::uint64_t actor, bool no_restart);
/// Takes a new reference to `id` (an ActorHandle read from bytes); returns `id`.
std::uint64_t AcquireRef(std::uint64_t id);
/// Stores a value; the id carries one reference owned by the caller.
std::uint64_t Put(const Payload& value);
/// Waits (timeout_ms < 0: without limit) and returns the bytes; throws RayTaskException,
/// RayWorkerException or RayTimeoutException.
Bytes Fetch(std::uint64_t id, int timeout_ms);
/// Waits until every id is final, throwing the error of a failed one as Fetch does.
void WaitAll(const std::vector<std::uint64_t>& ids, int timeout_ms);
/// ready[i] for the first `num_objects` final ids in input order, or fewer at the timeout.
std::vector<bool> Wait(const std::vector<std::uint64_t>& ids, int num_objects, int timeout_ms);

/// Takes over the reference `id` carries (from Submit/Put): returns the generation of the
/// runtime it belongs to, for DropRef.
std::uint64_t AdoptRef(std::uint64_t id) noexcept;
/// Gives the reference back (a no-op once the runtime of `generation` shut down).
void DropRef(std::uint64_t id, std::uint64_t generation) noexcept;
/// `id` when its ref may be used now; RayException for a ref of a runtime that was shut
/// down (a later Init reuses ids: it would name another object) or one from a forked parent.
std::uint64_t CheckedId(std::uint64_t id, std::uint64_t generation);
/// 16 lower-case hex digits: ObjectRef::ID().
std::string Hex(std::uint64_t id);

// Worker side: what an invoker reads and writes.
Bytes TaskArgs(shmray::detail::TaskCall& call);
/// Bytes of an argument object (kept alive by the task while it runs).
Bytes Resolve(shmray::detail::TaskCall& call, std::uint64_t id);
/// Called after the arguments are decoded, right before the body.
void BeforeBody(shmray::detail::TaskCall& call);
void SetResult(shmray::detail::TaskCall& call, const Payload& value);
/// In an actor's factory: the process keeps `self` (and `destroy` ends it).
void SetActorInstance(shmray::detail::TaskCall& call, void* self, void (*destroy)(void*));

}  // namespace backend
}  // namespace internal
}  // namespace ray
