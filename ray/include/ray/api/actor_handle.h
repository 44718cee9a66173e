#pragma once
/// @file actor_handle.h
/// ray::ActorHandle<T>: a handle to an actor whose object is a T. Copies share one reference;
/// the actor stops (its destructor runs after the calls queued before) once no handle
/// anywhere names it: in this process, in a task's arguments, or in a stored value.
/// A handle is msgpack-serializable, so it can be passed to tasks and other actors.
#include <cstdint>
#include <memory>
#include <msgpack.hpp>
#include <string>
#include <type_traits>
#include <utility>

#include <ray/api/actor_remote.h>
#include <ray/api/actor_task_caller.h>
#include <ray/api/backend.h>
#include <ray/api/object_ref.h>
#include <ray/api/ray_exception.h>
#include <ray/api/serializer.h>

namespace ray {

template <class ActorType>
class ActorHandle;

namespace internal {
/// Wraps an actor id whose reference the caller owns.
template <class ActorType>
ActorHandle<ActorType> AdoptActorHandle(std::uint64_t id);
}  // namespace internal

template <class ActorType>
class ActorHandle {
 public:
  ActorHandle() = default;

  /// Ray's check for "is this an ActorHandle".
  static bool IsActorHandle() { return true; }

  /// Ray's untyped id of the actor (here 16 hex digits); empty for a default handle.
  const std::string& ID() const {
    static const std::string kEmpty;
    return state_ ? state_->hex() : kEmpty;
  }

  /// A caller of `actor_func`, a member function of ActorType registered with RAY_REMOTE.
  /// Throws RayFunctionNotFound when it is not registered.
  template <class F>
  internal::ActorTaskCaller<F> Task(F actor_func) {
    static_assert(std::is_member_function_pointer_v<F>, "Actor method is not a member function of actor class.");
    if constexpr (std::is_member_function_pointer_v<F>) {
      using Self = typename internal::MethodTraits<F>::Class;
      static_assert(std::is_same_v<ActorType, Self>,
                    "Class types must be same: handle.Task(&C::Method) takes a method of the actor's own class "
                    "(shmray: not of a base class either; add a method to the actor's class that calls it)");
    }
    RawId("ray: ActorHandle::Task");
    return internal::ActorTaskCaller<F>(state_, actor_func);
  }

  /// Stops the actor at once (its process is killed, its destructor does not run); calls
  /// running or queued, and later ones, throw RayActorException. No restart.
  void Kill() { Kill(true); }
  /// With `no_restart` false the actor restarts when SetMaxRestarts allows (its factory runs
  /// again; its state is lost).
  void Kill(bool no_restart) { internal::backend::KillActor(RawId("ray: ActorHandle::Kill"), no_restart); }

  /// msgpack: a handle is its actor's id; packed into a task's arguments or a stored value,
  /// it keeps the actor alive as long as that task or object.
  template <class Packer>
  void msgpack_pack(Packer& pk) const {
    const std::uint64_t id = state_ ? RawId("ray: serializing an ActorHandle") : 0;
    if (id != 0 && internal::HandleSink()) internal::HandleSink()->push_back(id);
    pk.pack(id);
  }
  /// msgpack: reads the id and takes a reference of its own to the actor.
  void msgpack_unpack(const msgpack::object& o) {
    const std::uint64_t id = o.as<std::uint64_t>();
    state_ = id == 0 ? nullptr : internal::AdoptState(internal::backend::AcquireRef(id));
  }

 private:
  friend ActorHandle internal::AdoptActorHandle<ActorType>(std::uint64_t);

  std::uint64_t RawId(const char* what) const {
    if (!state_) throw internal::RayException(std::string(what) + ": this ActorHandle is empty (default-constructed)");
    return internal::backend::CheckedId(state_->id(), state_->generation());
  }

  std::shared_ptr<const internal::RefState> state_;
};

namespace internal {
template <class ActorType>
ActorHandle<ActorType> AdoptActorHandle(std::uint64_t id) {
  ActorHandle<ActorType> h;
  h.state_ = AdoptState(id);
  return h;
}
}  // namespace internal

}  // namespace ray
