#pragma once
/// @file remote.hpp
/// SHMRAY_REMOTE(f): registers a free function so every worker process can run it.
/// @code
/// int slow_square(int x);
/// SHMRAY_REMOTE(slow_square);
/// SHMRAY_REMOTE(static_cast<int (*)(int)>(overloaded));   // an overload: pick it with a cast
/// @endcode
#include "shmray/detail/config.hpp"
#include <typeinfo>

#include "shmray/detail/invoke.hpp"
#include "shmray/detail/registry.hpp"

namespace shmray::detail {

template <class R, class... P>
bool register_remote(const char* spelled, R (*fn)(P...)) {
  static_assert(check_signature<R, P...>());
  return register_function(FunctionInfo{spelled_function_name(spelled), reinterpret_cast<AnyFn>(fn),
                                        &invoke_function<R, P...>, typeid(R (*)(P...)).name()});
}

}  // namespace shmray::detail

#define SHMRAY_CONCAT_IMPL(a, b) a##b
#define SHMRAY_CONCAT(a, b) SHMRAY_CONCAT_IMPL(a, b)
/// Registers `fn` under its spelled name before main runs. Use at namespace scope.
/// Internal linkage and __COUNTER__ keep two registrations on the same line of different
/// files apart.
#define SHMRAY_REMOTE(fn)                                                            \
  [[maybe_unused]] static const bool SHMRAY_CONCAT(shmray_remote_registered_, __COUNTER__) = \
      ::shmray::detail::register_remote(#fn, fn)
