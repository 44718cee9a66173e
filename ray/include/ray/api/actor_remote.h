#pragma once
/// @file actor_remote.h
/// RAY_REMOTE for actors: a factory (`T* Create(...)`, a free or static member function)
/// and the member functions (`&T::Method`) called on the object it makes. Registered in
/// shmray's function table as an actor factory / actor method, with invokers that read this
/// layer's msgpack argument format (ray_remote.h).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <tuple>
#include <type_traits>
#include <typeinfo>

#include <ray/api/backend.h>
#include <ray/api/ray_remote.h>

namespace ray {
namespace internal {

/// The parts of a member function pointer type (const and noexcept forms alike).
template <class M>
struct MethodTraits {
  static constexpr bool is_method = false;
};
template <class C, class R, class... P>
struct MethodTraits<R (C::*)(P...)> {
  static constexpr bool is_method = true;
  using Class = C;
  using Return = R;
  using Params = std::tuple<P...>;
  static constexpr std::size_t arity = sizeof...(P);
  template <class M>
  static void Invoke(const std::byte* method, void* self, shmray::detail::TaskCall& call);
};
template <class C, class R, class... P>
struct MethodTraits<R (C::*)(P...) const> : MethodTraits<R (C::*)(P...)> {};
template <class C, class R, class... P>
struct MethodTraits<R (C::*)(P...) noexcept> : MethodTraits<R (C::*)(P...)> {};
template <class C, class R, class... P>
struct MethodTraits<R (C::*)(P...) const noexcept> : MethodTraits<R (C::*)(P...)> {};

/// The bytes of member pointer `m`: equal for equal pointers (shmray's MethodKey).
template <class M>
void MethodKeyOf(M m, unsigned char (&key)[backend::kMethodKeyBytes]) {
  static_assert(sizeof(M) <= backend::kMethodKeyBytes, "ray: a member function pointer larger than two words");
  std::memset(key, 0, sizeof key);
  std::memcpy(key, &m, sizeof m);
}

/// Runs in the actor's process: decodes the arguments, calls the method on the actor's
/// object, stores the msgpack result.
template <class C, class R, class... P>
template <class M>
void MethodTraits<R (C::*)(P...)>::Invoke(const std::byte* method, void* self, shmray::detail::TaskCall& call) {
  if (!self) throw RayActorException("ray: an actor method reached a process that holds no actor object");
  M m;
  std::memcpy(&m, method, sizeof m);
  C* obj = static_cast<C*>(self);
  auto args = DecodeArgs<P...>(call);
  StoreResult<R>(call,
                 [&]() -> R { return std::apply([&](auto&... a) -> R { return (obj->*m)(PassArg<P>(a)...); }, args); });
}

template <class M>
constexpr backend::MethodInvoker MethodInvokerOf() {
  return &MethodTraits<M>::template Invoke<M>;
}

template <class T>
void DestroyActor(void* self) {
  delete static_cast<T*>(self);
}

/// Runs in the actor's process: makes the object the process keeps; the creation's result
/// carries no value. A factory that throws fails the actor (its calls throw RayActorException).
template <class T, class... P>
void InvokeFactory(backend::AnyFn fn, shmray::detail::TaskCall& call) {
  auto f = reinterpret_cast<T* (*)(P...)>(fn);
  auto args = DecodeArgs<P...>(call);
  T* self = std::apply([&](auto&... a) { return f(PassArg<P>(a)...); }, args);
  if (!self) throw RayActorException("ray: the actor's factory returned nullptr");
  backend::SetActorInstance(call, self, &DestroyActor<T>);
  backend::SetResult(call, backend::Payload{});
}

/// RAY_REMOTE(Create): a function returning a pointer to a class is an actor factory.
template <class T, class... P>
struct Registrar<T* (*)(P...)> {
  static bool Run(const std::string& name, T* (*fn)(P...)) {
    static_assert(std::is_class_v<T>,
                  "RAY_REMOTE: a function returning a pointer registers an actor factory; it must return a "
                  "pointer to a class (T* Create(...)), which the actor's process keeps");
    static_assert(CheckRemoteSignature<void, P...>());
    return backend::RegisterFactory(name.c_str(), reinterpret_cast<backend::AnyFn>(fn), &InvokeFactory<T, P...>,
                                    typeid(T * (*)(P...)).name(), typeid(T).name(), &DestroyActor<T>);
  }
};

/// RAY_REMOTE(&T::Method): a member function, called on an actor of class T.
template <class M>
struct Registrar<M, std::enable_if_t<std::is_member_function_pointer_v<M>>> {
  static bool Run(const std::string& name, M m) {
    using Traits = MethodTraits<M>;
    static_assert(Traits::is_method, "RAY_REMOTE: a member function with a ref-qualifier (& or &&) cannot be remote");
    if constexpr (Traits::is_method) {
      static_assert(CheckParams(static_cast<typename Traits::Params*>(nullptr)));
      unsigned char key[backend::kMethodKeyBytes];
      MethodKeyOf(m, key);
      return backend::RegisterMethod(name.c_str(), key, MethodInvokerOf<M>(), typeid(M).name(),
                                     typeid(typename Traits::Class).name());
    }
    return false;
  }
  template <class... P>
  static constexpr bool CheckParams(std::tuple<P...>*) {
    return CheckRemoteSignature<typename MethodTraits<M>::Return, P...>();
  }
};

}  // namespace internal
}  // namespace ray
