#pragma once
/// @file invoke.hpp
/// How arguments travel. remote() encodes each argument as a tag byte and then either the
/// value (kValue) or the id of an ObjectRef the worker resolves in place (kResolve). The
/// worker-side invoker, instantiated by SHMRAY_REMOTE for the function's signature, decodes
/// them in order, calls the function and stores its result.
#include "shmray/detail/config.hpp"
#include <cstdint>
#include <span>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "shmray/buffer.hpp"
#include "shmray/detail/codec.hpp"
#include "shmray/detail/registry.hpp"
#include "shmray/detail/runtime_api.hpp"
#include "shmray/object_ref.hpp"
#include "shmray/view.hpp"

namespace shmray::detail {

enum class ArgTag : std::uint8_t { kValue = 0, kResolve = 1 };

template <class T>
inline constexpr bool is_serializable_v =
    cereal::traits::is_output_serializable<T, OutArchive>::value &&
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
struct is_view : std::false_type {};
template <class T>
struct is_view<View<T>> : std::true_type {
  using inner = T;
};
template <class T>
inline constexpr bool is_view_v = is_view<std::remove_cvref_t<T>>::value;

/// What a parameter type must be: a View<T> (given an ObjectRef<T>, read in place), or a
/// default-constructible type cereal can read and write.
template <class D>
inline constexpr bool valid_parameter_v =
    is_view_v<D> || (std::is_default_constructible_v<D> && is_serializable_v<D>);

/// What the worker gives an invoker.
class SHMRAY_API TaskCall {
 public:
  virtual InArchive& args() = 0;
  /// Bytes of an argument object, readable in place while the task runs.
  virtual std::span<const std::byte> resolve(ObjectId id) = 0;
  virtual void set_result(const ValueSource& value) = 0;
  /// The result is a block the task wrote in place (a Buffer): it becomes the object.
  virtual void set_result_block(const ValueBlock& block) = 0;
  /// Called once every argument is decoded, right before the function body: throws (the
  /// task ends without running its body) when the task was cancelled meanwhile.
  virtual void before_body() {}

 protected:
  ~TaskCall() = default;
};

/// Serializes `v` in two passes (size, then write) so it lands in the store without a copy.
template <class T>
ValueSource value_source(const T& v, std::vector<ObjectId>& contained) {
  OutArchive sizing;
  sizing.collect_refs(&contained);
  sizing(v);
  return ValueSource{sizing.size(),
                     [](const void* ctx, std::span<std::byte> into) {
                       OutArchive ar(into);
                       ar(*static_cast<const T*>(ctx));
                     },
                     &v, contained};
}

/// Throws SerializationError saying the value given to put() could not be serialized, with
/// the message of the exception in flight (a SerializationError or bad_alloc goes on as is).
[[noreturn]] SHMRAY_API void rethrow_value_not_serializable();
/// Throws SerializationError naming the argument (0-based `position`) of `function`.
[[noreturn]] SHMRAY_API void rethrow_argument_not_serializable(std::size_t position, std::uint32_t function);

/// value_source for put(): an exception of the value's save() (sizing or writing) becomes
/// SerializationError, as a result's does.
template <class T>
ValueSource put_value_source(const T& v, std::vector<ObjectId>& contained) {
  OutArchive sizing;
  sizing.collect_refs(&contained);
  try {
    sizing(v);
  } catch (...) {
    rethrow_value_not_serializable();
  }
  return ValueSource{sizing.size(),
                     [](const void* ctx, std::span<std::byte> into) {
                       try {
                         OutArchive ar(into);
                         ar(*static_cast<const T*>(ctx));
                       } catch (...) {
                         rethrow_value_not_serializable();
                       }
                     },
                     &v, contained};
}

/// Reads a T stored by value_source; the whole record must be consumed.
template <class T>
T decode_value(std::span<const std::byte> bytes) {
  static_assert(std::is_default_constructible_v<T>, "shmray: values read from the store must be default-constructible");
  InArchive ar(bytes);
  T v{};
  ar(v);
  if (ar.remaining() != 0) throw_serialization_error("the stored value is longer than its type (an ObjectRef<T> of the wrong T?)");
  return v;
}

// ---------------------------------------------------------------- driver side: encode

/// True when an argument of type A may fill a View<T> parameter: A is ObjectRef<T>.
template <class A, class V>
struct view_accepts : std::false_type {};
template <class T>
struct view_accepts<ObjectRef<T>, View<T>> : std::true_type {};

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

// ---------------------------------------------------------------- worker side: decode

template <class D>
D decode_argument(InArchive& ar, TaskCall& call) {
  std::uint8_t tag = 0;
  ar(tag);
  if constexpr (is_view_v<D>) {
    using T = typename is_view<D>::inner;
    if (tag != static_cast<std::uint8_t>(ArgTag::kResolve)) throw_serialization_error("a View parameter needs an ObjectRef argument");
    std::uint64_t raw = 0;
    ar(raw);
    const ObjectId id{raw};
    const auto bytes = call.resolve(id);  // pinned by the task while it runs; the view's ref keeps it after
    return D(ObjectRef<T>::acquire(id), bytes);
  } else {
    if (tag == static_cast<std::uint8_t>(ArgTag::kValue)) {
      D v{};
      ar(v);
      return v;
    }
    if constexpr (!is_object_ref_v<D>) {
      if (tag == static_cast<std::uint8_t>(ArgTag::kResolve)) {
        std::uint64_t raw = 0;
        ar(raw);
        return decode_value<D>(call.resolve(ObjectId{raw}));
      }
    }
    throw_serialization_error("unknown argument tag");
  }
}

/// Throws SerializationError saying the task's result could not be serialized, with the
/// message of the exception in flight.
[[noreturn]] SHMRAY_API void rethrow_result_not_serializable();

template <class R, class... P>
void invoke_function(AnyFn fn, TaskCall& call) {
  auto f = reinterpret_cast<R (*)(P...)>(fn);
  InArchive& ar = call.args();
  // Braced initialisation evaluates the decoders left to right, in parameter order.
  std::tuple<std::remove_cvref_t<P>...> args{decode_argument<std::remove_cvref_t<P>>(ar, call)...};
  if (ar.remaining() != 0) throw_serialization_error("task arguments have trailing bytes");
  call.before_body();  // decoding may have taken long (a large argument): a cancel meanwhile wins
  std::vector<ObjectId> contained;
  if constexpr (std::is_void_v<R>) {
    std::apply([&](auto&... a) { f(std::move(a)...); }, args);
    call.set_result(ValueSource{});
  } else if constexpr (is_buffer<R>::value) {
    R result = std::apply([&](auto&... a) -> R { return f(std::move(a)...); }, args);
    call.set_result_block(result.release());
  } else {
    const R result = std::apply([&](auto&... a) -> R { return f(std::move(a)...); }, args);
    ValueSource source;
    try {
      source = value_source(result, contained);
    } catch (...) {
      rethrow_result_not_serializable();
    }
    call.set_result(source);
  }
}

template <class R, class... P>
constexpr bool check_signature() {
  static_assert(((!std::is_lvalue_reference_v<P> || std::is_const_v<std::remove_reference_t<P>>) && ...),
                "SHMRAY_REMOTE: a remote function takes its parameters by value or by const&");
  static_assert(((is_view_v<P> || std::is_default_constructible_v<std::remove_cvref_t<P>>) && ...),
                "SHMRAY_REMOTE: parameter types must be default-constructible (they are deserialized)");
  static_assert(((is_view_v<P> || is_serializable_v<std::remove_cvref_t<P>>) && ...),
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
