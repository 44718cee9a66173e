#pragma once
/// @file actor_task_caller.h
/// handle.Task(&T::Method) returns an ActorTaskCaller; .Remote(args...) queues the call on
/// the actor and returns the ObjectRef of its result. Calls of one caller run in order, one
/// at a time, in the actor's process.
#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <unordered_map>
#include <utility>

#include <ray/api/actor_remote.h>
#include <ray/api/backend.h>
#include <ray/api/object_ref.h>
#include <ray/api/task_caller.h>

namespace ray {
namespace internal {

template <class F>
class ActorTaskCaller {
  using Traits = MethodTraits<F>;
  static_assert(Traits::is_method, "Actor method is not a member function of actor class.");

 public:
  using ReturnType = typename Traits::Return;

  /// Internal (use handle.Task): throws RayFunctionNotFound when no RAY_REMOTE registered `method`.
  ActorTaskCaller(std::shared_ptr<const RefState> actor, F method)
      : actor_(std::move(actor)), method_(IndexOf(method)) {}

  /// Name for logs and errors.
  ActorTaskCaller& SetName(std::string name) {
    spec_.name = std::move(name);
    return *this;
  }
  /// Accepted for Ray's API; an actor's calls use the resources the actor holds.
  ActorTaskCaller& SetResources(std::unordered_map<std::string, double> resources) {
    for (const auto& r : resources) spec_.resources[r.first] = r.second;
    return *this;
  }
  ActorTaskCaller& SetResource(std::string name, double value) {
    spec_.resources[std::move(name)] = value;
    return *this;
  }

  /// Queues the call and returns at once. An ObjectRef<T> argument is resolved to its T
  /// before the method runs. Get() of a call on a dead actor throws RayActorException.
  template <class... Args>
  ObjectRef<ReturnType> Remote(Args&&... args) {
    static_assert(sizeof...(Args) == Traits::arity,
                  "handle.Task(&T::Method).Remote: got a different number of arguments than the method has "
                  "parameters");
    static_assert(FitsAll<typename Traits::Params, Args...>(std::make_index_sequence<sizeof...(Args)>{}),
                  "handle.Task(&T::Method).Remote: arguments not match: an argument (or the T of an "
                  "ObjectRef<T> argument) does not convert to its parameter's type");
    const backend::CallArgs call = EncodeCall<typename Traits::Params>(std::forward<Args>(args)...);
    const std::uint64_t actor = backend::CheckedId(actor_->id(), actor_->generation());
    return MakeRef<ReturnType>(backend::CallActor(actor, method_, call, spec_));
  }

 private:
  static std::uint32_t IndexOf(F method) {
    unsigned char key[backend::kMethodKeyBytes];
    MethodKeyOf(method, key);
    return backend::MethodIndex(key, typeid(F).name(), MethodInvokerOf<F>());
  }

  std::shared_ptr<const RefState> actor_;  // keeps the actor while a caller is around
  std::uint32_t method_;
  backend::TaskSpec spec_;
};

}  // namespace internal
}  // namespace ray
