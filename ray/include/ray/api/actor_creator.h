#pragma once
/// @file actor_creator.h
/// ray::Actor(Create) returns an ActorCreator; .SetName / .SetMaxRestarts / .SetResource(s)
/// set options, .Remote(args...) starts the actor in a process of its own (there its
/// factory runs: Create(args...)) and returns its handle at once.
#include <cstdint>
#include <string>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <utility>

#include <ray/api/actor_handle.h>
#include <ray/api/actor_remote.h>
#include <ray/api/backend.h>
#include <ray/api/task_caller.h>

namespace ray {
namespace internal {

template <class F>
struct FactoryTraits {
  static_assert(dependent_false_v<F>,
                "ray::Actor: pass an actor factory registered with RAY_REMOTE, a function returning a pointer "
                "to the actor's object (T* Create(...))");
};
template <class T, class... P>
struct FactoryTraits<T* (*)(P...)> {
  using Actor = T;
  using Params = std::tuple<P...>;
  static constexpr std::size_t arity = sizeof...(P);
  static constexpr backend::Invoker invoker = &InvokeFactory<T, P...>;
};

template <class F>
class ActorCreator {
  using Traits = FactoryTraits<F>;

 public:
  using ActorType = typename Traits::Actor;

  /// Throws RayFunctionNotFound when no RAY_REMOTE registered `create_func`.
  explicit ActorCreator(F create_func)
      : factory_(backend::FactoryIndex(reinterpret_cast<backend::AnyFn>(create_func), Traits::invoker)) {}

  /// A name other processes find the actor by (ray::GetActor); unique among live actors.
  ActorCreator& SetName(std::string name) {
    spec_.name = std::move(name);
    return *this;
  }
  /// "CPU": task slots of the pool the actor holds while it lives (default 0: it runs
  /// beside the pool). Any other resource but "memory"/"object_store_memory" makes Remote
  /// throw RayException: this machine has none to give.
  ActorCreator& SetResources(std::unordered_map<std::string, double> resources) {
    for (const auto& r : resources) spec_.resources[r.first] = r.second;
    return *this;
  }
  ActorCreator& SetResource(std::string name, double value) {
    spec_.resources[std::move(name)] = value;
    return *this;
  }
  /// Times the actor's process is started again (its factory runs again) after it died; -1:
  /// without limit. Default 0.
  ActorCreator& SetMaxRestarts(int max_restarts) {
    spec_.max_restarts = max_restarts;
    return *this;
  }
  /// Accepted for Ray's API; shmray runs an actor's calls one at a time whatever it is.
  ActorCreator& SetMaxConcurrency(int max_concurrency) {
    (void)max_concurrency;
    return *this;
  }

  /// Starts the actor and returns its handle at once; calls may be queued right away.
  template <class... Args>
  ActorHandle<ActorType> Remote(Args&&... args) {
    static_assert(sizeof...(Args) == Traits::arity,
                  "ray::Actor(Create).Remote: got a different number of arguments than Create has parameters");
    static_assert(FitsAll<typename Traits::Params, Args...>(std::make_index_sequence<sizeof...(Args)>{}),
                  "ray::Actor(Create).Remote: arguments not match: an argument (or the T of an ObjectRef<T> "
                  "argument) does not convert to its parameter's type");
    const backend::CallArgs call = EncodeCall<typename Traits::Params>(std::forward<Args>(args)...);
    return AdoptActorHandle<ActorType>(backend::CreateActor(factory_, call, spec_));
  }

 private:
  std::uint32_t factory_;
  backend::ActorSpec spec_;
};

}  // namespace internal
}  // namespace ray
