#pragma once
/// @file method_traits.hpp
/// The parts of a member function pointer type (const and noexcept forms alike), and its
/// bytes: an actor method is named across processes by them.
#include "shmray/detail/config.hpp"

#include <cstring>
#include <type_traits>

#include "shmray/detail/registry.hpp"

namespace shmray::detail {

template <class M>
struct method_traits {
  static constexpr bool is_method = false;
};
template <class C, class R, class... P>
struct method_traits<R (C::*)(P...)> {
  static constexpr bool is_method = true;
  using cls = C;
  using result = R;
  template <template <class, class, class...> class Tpl>
  using apply = Tpl<C, R, P...>;
};
template <class C, class R, class... P>
struct method_traits<R (C::*)(P...) const> : method_traits<R (C::*)(P...)> {};
template <class C, class R, class... P>
struct method_traits<R (C::*)(P...) noexcept> : method_traits<R (C::*)(P...)> {};
template <class C, class R, class... P>
struct method_traits<R (C::*)(P...) const noexcept> : method_traits<R (C::*)(P...)> {};

template <class M>
inline constexpr bool is_method_v = method_traits<std::remove_cvref_t<M>>::is_method;

/// The bytes of member pointer `m`: equal for equal pointers (no padding in the Itanium ABI).
template <class M>
MethodKey method_key(M m) noexcept {
  static_assert(sizeof(M) <= sizeof(MethodKey), "shmray: a member pointer larger than two words");
  MethodKey key{};
  std::memcpy(key.data(), &m, sizeof m);
  return key;
}

}  // namespace shmray::detail
