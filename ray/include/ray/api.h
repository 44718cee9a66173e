#pragma once
/// @file api.h
/// Ray's C++ API (tasks and actors) on shmray's worker pool: the same source builds against
/// Ray's own <ray/api.h> and runs on a Ray cluster (docs/ray-cluster.md). C++17.
/// @code
/// #include <ray/api.h>
/// int Plus(int a, int b) { return a + b; }
/// RAY_REMOTE(Plus);
/// int main(int argc, char** argv) {
///   ray::Init();
///   auto ref = ray::Task(Plus).Remote(1, 2);
///   int three = *ray::Get(ref);
///   ray::Shutdown();
/// }
/// @endcode
/// Actors: `RAY_REMOTE(CreateCounter, &Counter::Add);` then
/// `ray::ActorHandle<Counter> c = ray::Actor(CreateCounter).Remote(0);` and
/// `ray::ObjectRef<int> r = c.Task(&Counter::Add).Remote(1);`
#include <boost/optional.hpp>
#include <chrono>
#include <cstdint>
#include <list>
#include <memory>
#include <msgpack.hpp>
#include <string>
#include <typeinfo>
#include <vector>

#include <ray/api/actor_creator.h>
#include <ray/api/actor_handle.h>
#include <ray/api/actor_remote.h>
#include <ray/api/actor_task_caller.h>
#include <ray/api/backend.h>
#include <ray/api/object_ref.h>
#include <ray/api/ray_config.h>
#include <ray/api/ray_exception.h>
#include <ray/api/ray_remote.h>
#include <ray/api/serializer.h>
#include <ray/api/task_caller.h>
#include <ray/api/wait_result.h>

namespace ray {

/// Starts the worker pool (a no-op when it runs already).
inline void Init() {
  RayConfig config;
  internal::backend::Init(config, 0, nullptr);
}
inline void Init(RayConfig& config) { internal::backend::Init(config, 0, nullptr); }
/// Also reads Ray's --ray_address and --ray_head_args="--num-cpus=N ..." from argv.
inline void Init(RayConfig& config, int argc, char** argv) { internal::backend::Init(config, argc, argv); }
/// Stops the pool; refs made before it are dead afterwards.
inline void Shutdown() { internal::backend::Shutdown(); }
inline bool IsInitialized() { return internal::backend::IsInitialized(); }

/// Stores a value (msgpack, written straight into the object store).
template <class T>
ObjectRef<T> Put(const T& obj) {
  static_assert(internal::CheckSerializable<T>());
  std::vector<std::uint64_t> handles;
  return internal::MakeRef<T>(internal::backend::Put(internal::MakePayload(obj, handles)));
}

template <class T>
std::shared_ptr<T> Get(const ObjectRef<T>& object) {
  return object.Get();
}
template <class T>
std::shared_ptr<T> Get(const ObjectRef<T>& object, const int& timeout_ms) {
  return object.Get(timeout_ms);
}

namespace internal {
template <class T>
std::vector<std::uint64_t> RawIds(const std::vector<ObjectRef<T>>& objects) {
  std::vector<std::uint64_t> ids;
  ids.reserve(objects.size());
  for (const auto& o : objects) ids.push_back(o.RawId());
  return ids;
}
template <class T>
std::vector<std::shared_ptr<T>> GetAll(const std::vector<ObjectRef<T>>& objects, int timeout_ms) {
  const std::vector<std::uint64_t> ids = RawIds(objects);
  backend::WaitAll(ids, timeout_ms);  // every one final, or the first failure thrown
  std::vector<std::shared_ptr<T>> out;
  out.reserve(ids.size());
  for (std::uint64_t id : ids) out.push_back(Unpack<T>(backend::Fetch(id, -1)));
  return out;
}
}  // namespace internal

/// Every value, in order; throws the error of a failed one.
template <class T>
std::vector<std::shared_ptr<T>> Get(const std::vector<ObjectRef<T>>& objects) {
  return internal::GetAll(objects, -1);
}
template <class T>
std::vector<std::shared_ptr<T>> Get(const std::vector<ObjectRef<T>>& objects, const int& timeout_ms) {
  return internal::GetAll(objects, timeout_ms);
}

/// Waits until `num_objects` of `objects` are ready or `timeout_ms` passed (negative: no
/// limit). ready and unready keep the input order.
template <class T>
WaitResult<T> Wait(const std::vector<ObjectRef<T>>& objects, int num_objects, int timeout_ms) {
  if (num_objects < 0 || static_cast<std::size_t>(num_objects) > objects.size())
    throw internal::RayException("ray::Wait: num_objects must be between 0 and the number of objects");
  const std::vector<bool> is_ready = internal::backend::Wait(internal::RawIds(objects), num_objects, timeout_ms);
  std::list<ObjectRef<T>> ready, unready;
  for (std::size_t i = 0; i < objects.size(); ++i) (is_ready[i] ? ready : unready).push_back(objects[i]);
  return WaitResult<T>(std::move(ready), std::move(unready));
}
/// Ray's Wait takes its timeout as an int of milliseconds; a chrono duration is refused
/// here so the same source builds against Ray.
template <class T, class Rep, class Period>
WaitResult<T> Wait(const std::vector<ObjectRef<T>>&, int, std::chrono::duration<Rep, Period>) {
  static_assert(internal::dependent_false_v<T>,
                "ray::Wait takes its timeout as an int of milliseconds (Ray's signature): write 1000, "
                "not std::chrono::seconds(1)");
  return {};
}
template <class T, class Rep, class Period>
std::shared_ptr<T> Get(const ObjectRef<T>&, std::chrono::duration<Rep, Period>) {
  static_assert(internal::dependent_false_v<T>,
                "ray::Get takes its timeout as an int of milliseconds (Ray's signature): write 1000, "
                "not std::chrono::seconds(1)");
  return {};
}

/// A task of a RAY_REMOTE function: ray::Task(f).Remote(args...).
template <class F>
TaskCaller<F> Task(F func) {
  return TaskCaller<F>(func);
}

/// An actor whose object `create_func` (a RAY_REMOTE factory, `T* Create(...)`) makes:
/// ray::Actor(Create).SetName("x").Remote(args...) -> ray::ActorHandle<T>.
template <class F>
internal::ActorCreator<F> Actor(F create_func) {
  return internal::ActorCreator<F>(create_func);
}

/// The live actor named `actor_name`, from any process of the pool; an empty optional when
/// there is none (or its object is not a T). boost::optional, as Ray's.
template <class T>
boost::optional<ActorHandle<T>> GetActor(const std::string& actor_name) {
  if (actor_name.empty()) return {};
  const std::uint64_t id = internal::backend::GetActor(actor_name, typeid(T).name());
  if (id == 0) return {};
  return internal::AdoptActorHandle<T>(id);
}

}  // namespace ray
