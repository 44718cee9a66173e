#pragma once
/// @file traits.hpp
/// Compile-time rules of remote functions, shared by both sides: which types can be
/// parameters and results, and the checks SHMRAY_REMOTE applies to a signature. Also the tag
/// that says how an encoded argument travels.
#include "shmray/detail/config.hpp"

#include <cstdint>
#include <type_traits>
#include <vector>

#include "shmray/buffer.hpp"
#include "shmray/detail/codec.hpp"
#include "shmray/object_ref.hpp"
#include "shmray/view.hpp"

namespace shmray::detail {

/// How an argument travels: the value itself, or the id of an ObjectRef the worker resolves
/// in place.
enum class ArgTag : std::uint8_t { kValue = 0, kResolve = 1 };

template <class T>
inline constexpr bool is_serializable_v = cereal::traits::is_output_serializable<T, OutArchive>::value&&
    cereal::traits::is_input_serializable<T, InArchive>::value;

template <class T>
struct is_vector : std::false_type {};
template <class T, class A>
struct is_vector<std::vector<T, A>> : std::true_type {
  using element = T;
};

template <class>
inline constexpr bool dependent_false_v = false;

template <class T>
using is_view = specialization_of<View, T>;
template <class T>
inline constexpr bool is_view_v = is_view<std::remove_cvref_t<T>>::value;

/// What a parameter type must be: a View<T> (given an ObjectRef<T>, read in place), or a
/// default-constructible type cereal can read and write.
template <class D>
inline constexpr bool valid_parameter_v = is_view_v<D> || (std::is_default_constructible_v<D> && is_serializable_v<D>);

/// True when an argument of type A may fill a View<T> parameter: A is ObjectRef<T>.
template <class A, class V>
struct view_accepts : std::false_type {};
template <class T>
struct view_accepts<ObjectRef<T>, View<T>> : std::true_type {};

template <class R, class... P>
constexpr bool check_signature() {
  static_assert(((!std::is_lvalue_reference_v<P> || std::is_const_v<std::remove_reference_t<P>>)&&...),
                "SHMRAY_REMOTE: a remote function takes its parameters by value or by const&");
  static_assert(((is_view_v<P> || std::is_default_constructible_v<std::remove_cvref_t<P>>)&&...),
                "SHMRAY_REMOTE: parameter types must be default-constructible (they are deserialized)");
  static_assert(((is_view_v<P> || is_serializable_v<std::remove_cvref_t<P>>)&&...),
                "SHMRAY_REMOTE: a parameter type cannot be serialized by cereal. Give it a "
                "`template <class Archive> void serialize(Archive&)` member (or save/load), and include "
                "the cereal header of each std type it uses (<cereal/types/map.hpp>, ...)");
  if constexpr (!std::is_void_v<R> && !is_buffer<R>::value) {
    static_assert(!std::is_reference_v<R>, "SHMRAY_REMOTE: a remote function returns by value");
    static_assert(is_serializable_v<R>,
                  "SHMRAY_REMOTE: the result type cannot be serialized by cereal. Give it a "
                  "`template <class Archive> void serialize(Archive&)` member (or save/load), and include "
                  "the cereal header of each std type it uses (<cereal/types/map.hpp>, ...)");
  }
  return true;
}

}  // namespace shmray::detail
