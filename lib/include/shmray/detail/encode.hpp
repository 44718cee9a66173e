#pragma once
/// @file encode.hpp
/// The submitting side of a call (remote(), in the driver or inside a task): each argument
/// is checked against its parameter at compile time and encoded as a tag byte and then
/// either the value (kValue) or the id of an ObjectRef the worker resolves (kResolve).
#include "shmray/detail/config.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "shmray/detail/codec.hpp"
#include "shmray/detail/traits.hpp"
#include "shmray/object_ref.hpp"

namespace shmray::detail {

/// Throws SerializationError naming the argument (0-based `position`) of `function`.
[[noreturn]] SHMRAY_API void rethrow_argument_not_serializable(std::size_t position, std::uint32_t function);

template <class P, class A>
constexpr bool check_argument() {
  using D = std::remove_cvref_t<P>;
  using AD = std::remove_cvref_t<A>;
  static_assert(!std::is_lvalue_reference_v<P> || std::is_const_v<std::remove_reference_t<P>>,
                "shmray: a remote function takes its parameters by value or by const&: a non-const "
                "reference cannot reach the caller's object from another process");
  if constexpr (is_view_v<D>) {
    static_assert(view_accepts<AD, D>::value,
                  "shmray: a View<T> parameter reads a stored object in place: pass an ObjectRef<T> for it "
                  "(put() the value first)");
  } else if constexpr (is_object_ref_v<AD> && !is_object_ref_v<D>) {
    static_assert(std::is_same_v<typename is_object_ref<AD>::inner, D>,
                  "shmray: an ObjectRef<U> argument is resolved to its value, so the parameter must have "
                  "type U (or be ObjectRef<U> to receive the ref itself)");
  } else {
    if constexpr (is_vector<AD>::value && is_vector<D>::value) {
      if constexpr (is_object_ref_v<typename is_vector<AD>::element> &&
                    !is_object_ref_v<typename is_vector<D>::element>) {
        static_assert(dependent_false_v<A>,
                      "shmray: std::vector<ObjectRef<T>> cannot be passed for a std::vector<T> parameter "
                      "(refs inside containers are not resolved). Either declare the parameter as "
                      "std::vector<ObjectRef<T>> and call shmray::get(refs) inside the task, or pass "
                      "shmray::get(refs) (the values) from the caller.");
      } else {
        static_assert(std::is_constructible_v<D, A>, "shmray: an argument does not convert to its parameter's type");
      }
    } else {
      static_assert(std::is_constructible_v<D, A>, "shmray: an argument does not convert to its parameter's type");
    }
    static_assert(is_serializable_v<D>,
                  "shmray: a parameter type cannot be serialized by cereal. Give it a "
                  "`template <class Archive> void serialize(Archive&)` member (or save/load), and "
                  "include the cereal header of each std type it uses (<cereal/types/map.hpp>, ...)");
  }
  return true;
}

/// Encodes argument `position` of `function`; an exception of its save() becomes
/// SerializationError naming the argument.
template <class P, class A>
void encode_argument(OutArchive& ar, std::vector<ObjectId>& resolve, A&& a, std::size_t position = 0,
                     std::uint32_t function = 0) {
  using D = std::remove_cvref_t<P>;
  using AD = std::remove_cvref_t<A>;
  if constexpr (is_object_ref_v<AD> && !is_object_ref_v<D>) {  // resolved: a value or a View
    const ObjectId id = a.checked_id("an ObjectRef argument");
    ar(static_cast<std::uint8_t>(ArgTag::kResolve), id.value);
    resolve.push_back(id);
  } else {
    ar(static_cast<std::uint8_t>(ArgTag::kValue));
    if constexpr (std::is_same_v<AD, D>) {
      try {
        ar(a);
      } catch (...) {
        rethrow_argument_not_serializable(position, function);
      }
    } else {
      const D converted(std::forward<A>(a));
      try {
        ar(converted);
      } catch (...) {
        rethrow_argument_not_serializable(position, function);
      }
    }
  }
}

/// Per-thread scratch space for encoding a submission (kept between calls: no allocation
/// per task once warm). A submission can run other tasks inline before it has read its
/// bytes (a worker waiting for slots), and those submit too: each nesting level has its own.
struct EncodeScratch {
  std::string bytes;
  std::vector<ObjectId> resolve, contained;
};
class SHMRAY_API ScratchLease {
 public:
  ScratchLease();
  ~ScratchLease();
  ScratchLease(const ScratchLease&) = delete;
  ScratchLease& operator=(const ScratchLease&) = delete;
  EncodeScratch& operator*() const { return *s_; }
  EncodeScratch* operator->() const { return s_; }

 private:
  EncodeScratch* s_;
};

}  // namespace shmray::detail
