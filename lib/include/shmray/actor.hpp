#pragma once
/// @file actor.hpp
/// Actors: an object living in a worker process of its own, whose methods are called like
/// tasks and run one at a time, in each caller's order.
/// @code
/// Counter* make_counter(int start) { return new Counter(start); }
/// SHMRAY_REMOTE(make_counter);
/// SHMRAY_REMOTE(&Counter::add);
/// shmray::ActorHandle<Counter> c = shmray::actor(make_counter).options({.name = "c"}).remote(10);
/// shmray::ObjectRef<int> r = c.task(&Counter::add).remote(5);   // 15
/// @endcode
#include <string>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include "shmray/detail/config.hpp"

#include "shmray/detail/method_traits.hpp"
#include "shmray/options.hpp"
#include "shmray/task.hpp"

namespace shmray {

template <class T>
class ActorHandle;

/// Returned by handle.task(&T::method): `remote` queues a call of the method on the actor.
template <class T, class C, class R, class... P>
class ActorTaskCaller {
 public:
  /// The result's ref: ObjectRef<R>, or ObjectRef<std::vector<T>> when R is Buffer<T>.
  using Result = ObjectRef<detail::stored_t<R>>;

  /// Internal (use handle.task): throws UnregisteredFunctionError when `method` has no SHMRAY_REMOTE.
  template <class M>
  ActorTaskCaller(detail::ObjectId actor, M method)
      : actor_(actor), index_(detail::method_index_or_throw(detail::method_key(method), typeid(M).name())) {}

  /// Queues the call and returns at once. Arguments work as for task(f).remote(...).
  template <class... A>
  Result remote(A&&... a) const {
    static_assert(sizeof...(A) == sizeof...(P),
                  "shmray: handle.task(&T::method).remote(...) got a different number of arguments than the method "
                  "has parameters");
    if constexpr (sizeof...(A) == sizeof...(P)) {
      static_assert((detail::check_argument<P, A>() && ...));
      detail::ScratchLease lease;
      detail::SubmitRequest req = detail::encode_call<P...>(*lease, index_, std::forward<A>(a)...);
      const TaskOptions defaults;
      req.options = &defaults;
      detail::RuntimeCall rt;
      return Result::adopt(rt->submit_method(actor_, req));
    }
  }

 private:
  detail::ObjectId actor_;
  std::uint32_t index_;
};

/// A handle to an actor: copy it, pass it to tasks and other actors (it serializes), call its
/// methods. The actor stops, its destructor run after the calls queued before, once the last
/// handle anywhere is gone (unless it is named and detached).
template <class T>
class ActorHandle {
 public:
  ActorHandle() = default;

  /// A caller for method `m` of T, registered with SHMRAY_REMOTE(&T::m).
  /// Throws UnregisteredFunctionError when it is not.
  template <class M>
  requires detail::is_method_v<M>
  auto task(M m) const {
    using Traits = detail::method_traits<M>;
    static_assert(std::is_same_v<typename Traits::cls, T>,
                  "shmray: handle.task(&C::m): m must be a method of the actor's own class T (for a method T "
                  "inherits, add a method to T that calls it, and register that one)");
    using Caller = typename Traits::template apply<Bind>::type;
    return Caller(ref_.checked_id("shmray: ActorHandle::task"), m);
  }

  /// Final once the actor's factory ran: get() on it throws the factory's error, if any.
  const ObjectRef<void>& ready() const noexcept { return ref_; }
  /// False for a default-constructed handle.
  explicit operator bool() const noexcept { return static_cast<bool>(ref_); }
  /// The same actor (of the same runtime).
  friend bool operator==(const ActorHandle& a, const ActorHandle& b) noexcept { return a.ref_ == b.ref_; }

  /// A handle serializes as the ref it holds: pass it to tasks and actors like any value.
  template <class Archive>
  void serialize(Archive& ar) {
    ar(ref_);
  }

  /// Internal: wraps the actor's id (its creation result) whose reference the caller owns.
  static ActorHandle adopt(detail::ObjectId id) {
    ActorHandle h;
    h.ref_ = ObjectRef<void>::adopt(id);
    return h;
  }

 private:
  template <class C, class R, class... P>
  struct Bind {
    using type = ActorTaskCaller<T, C, R, P...>;
  };
  ObjectRef<void> ref_;
};

template <class F>
class ActorCreator;

/// Returned by actor(factory): `remote` starts the actor and returns its handle at once.
template <class T, class... P>
class ActorCreator<T* (*)(P...)> {
 public:
  /// Throws UnregisteredFunctionError when the factory has no SHMRAY_REMOTE.
  explicit ActorCreator(T* (*f)(P...))
      : index_(detail::function_index_or_throw(reinterpret_cast<detail::AnyFn>(f), typeid(T * (P...)).name())) {}

  /// Sets the actor's options (name, restarts, CPUs, detached).
  ActorCreator& options(ActorOptions o) & {
    options_ = std::move(o);
    return *this;
  }
  /// Sets the actor's options, on a temporary: `actor(f).options({...}).remote(...)`.
  ActorCreator&& options(ActorOptions o) && {
    options_ = std::move(o);
    return std::move(*this);
  }

  /// Starts the actor: its own process runs factory(args...) and keeps the object. Calls may
  /// be queued at once; they run after it. Throws std::invalid_argument for options out of
  /// range or a name a live actor has.
  template <class... A>
  ActorHandle<T> remote(A&&... a) const {
    static_assert(sizeof...(A) == sizeof...(P),
                  "shmray: actor(factory).remote(...) got a different number of arguments than the factory has "
                  "parameters");
    if constexpr (sizeof...(A) == sizeof...(P)) {
      static_assert((detail::check_argument<P, A>() && ...));
      detail::ScratchLease lease;
      detail::SubmitRequest req = detail::encode_call<P...>(*lease, index_, std::forward<A>(a)...);
      const TaskOptions task_options{.name = options_.name, .max_retries = 0};
      req.options = &task_options;
      detail::RuntimeCall rt;
      return ActorHandle<T>::adopt(rt->create_actor(req, options_));
    }
  }

 private:
  std::uint32_t index_;
  ActorOptions options_;
};

/// The creator for an actor factory (`T* make(...)`, registered with SHMRAY_REMOTE).
template <class T, class... P>
ActorCreator<T* (*)(P...)> actor(T* (*factory)(P...)) {
  return ActorCreator<T* (*)(P...)>(factory);
}

/// The live actor named `name`, from any process of the pool. Throws ActorNotFoundError when
/// no live actor has that name, or when its class is not T.
template <class T>
ActorHandle<T> get_actor(const std::string& name) {
  detail::RuntimeCall rt;
  return ActorHandle<T>::adopt(rt->get_actor(name, typeid(T).name()));
}

/// Stops the actor at once (its process is killed; its destructor does not run). Calls
/// running or queued, and later ones, fail with ActorDiedError. With `no_restart = false` it
/// restarts instead when max_restarts allows (as a crash would).
template <class T>
void kill(const ActorHandle<T>& handle, bool no_restart = true) {
  detail::RuntimeCall rt;
  rt->kill_actor(handle.ready().checked_id("shmray::kill"), no_restart);
}

}  // namespace shmray
