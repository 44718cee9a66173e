#pragma once
/// @file remote.hpp
/// SHMRAY_REMOTE(f): registers a free function so every worker process can run it; also an
/// actor's factory (a function returning `T*`) and an actor's methods (`&T::method`).
/// @code
/// int slow_square(int x);
/// SHMRAY_REMOTE(slow_square);
/// SHMRAY_REMOTE(static_cast<int (*)(int)>(overloaded));   // an overload: pick it with a cast
/// Counter* make_counter(int start);
/// SHMRAY_REMOTE(make_counter);                              // an actor factory
/// SHMRAY_REMOTE(&Counter::add);                             // an actor method
/// @endcode
#include <type_traits>
#include <typeinfo>
#include "shmray/detail/config.hpp"

#include "shmray/detail/invoke.hpp"
#include "shmray/detail/method_traits.hpp"
#include "shmray/detail/registry.hpp"

namespace shmray::detail {

template <class R, class... P>
bool register_remote(const char* spelled, R (*fn)(P...)) {
  static_assert(check_signature<R, P...>());
  return register_function(FunctionInfo{spelled_function_name(spelled), reinterpret_cast<AnyFn>(fn),
                                        &invoke_function<R, P...>, typeid(R(*)(P...)).name()});
}

/// An actor factory: a function returning a pointer to the actor's object (as in Ray's C++ API).
template <class T, class... P>
bool register_remote(const char* spelled, T* (*fn)(P...)) {
  static_assert(std::is_class_v<T>,
                "SHMRAY_REMOTE: a function returning a pointer registers an actor factory; it must return a "
                "pointer to a class (T* make(...)), which the actor's process keeps");
  static_assert(check_signature<void, P...>());
  FunctionInfo info{spelled_function_name(spelled), reinterpret_cast<AnyFn>(fn), &invoke_factory<T, P...>,
                    typeid(T * (*)(P...)).name()};
  info.kind = FunctionKind::kFactory;
  info.class_type = typeid(T).name();
  info.destroy = &destroy_actor<T>;
  return register_function(std::move(info));
}

template <class C, class R, class... P>
struct MethodRegistration {
  template <class M>
  static bool run(const char* spelled, M m) {
    static_assert(check_signature<R, P...>());
    FunctionInfo info{spelled_function_name(spelled), nullptr, nullptr, typeid(M).name()};
    info.kind = FunctionKind::kMethod;
    info.class_type = typeid(C).name();
    info.method = method_key(m);
    info.invoke_method = &invoke_method<M, C, R, P...>;
    return register_function(std::move(info));
  }
};

/// An actor method: `&T::method` (const and noexcept ones too).
template <class M>
requires is_method_v<M>
bool register_remote(const char* spelled, M m) {
  return method_traits<M>::template apply<MethodRegistration>::run(spelled, m);
}

}  // namespace shmray::detail

/// Internal: pastes two tokens (SHMRAY_CONCAT expands its arguments first).
#define SHMRAY_CONCAT_IMPL(a, b) a##b
/// Internal: `a` and `b`, expanded, as one token (SHMRAY_REMOTE's variable names).
#define SHMRAY_CONCAT(a, b) SHMRAY_CONCAT_IMPL(a, b)
/// Registers `fn` under its spelled name before main runs. Use at namespace scope.
/// Internal linkage and __COUNTER__ keep two registrations on the same line of different
/// files apart.
#define SHMRAY_REMOTE(fn)                                                                    \
  [[maybe_unused]] static const bool SHMRAY_CONCAT(shmray_remote_registered_, __COUNTER__) = \
      ::shmray::detail::register_remote(#fn, fn)
