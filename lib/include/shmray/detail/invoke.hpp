#pragma once
/// @file invoke.hpp
/// How arguments travel. remote() encodes each argument (encode.hpp) as a tag byte and then
/// either the value (kValue) or the id of an ObjectRef the worker resolves in place
/// (kResolve). The worker-side invoker here, instantiated by SHMRAY_REMOTE for the
/// function's signature, decodes them in order, calls the function and stores its result.
/// Includes traits.hpp, values.hpp and encode.hpp: including this one gives all of them.
#include "shmray/detail/config.hpp"

#include <cstdint>
#include <cstring>
#include <span>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "shmray/buffer.hpp"
#include "shmray/detail/codec.hpp"
#include "shmray/detail/encode.hpp"
#include "shmray/detail/registry.hpp"
#include "shmray/detail/runtime_api.hpp"
#include "shmray/detail/traits.hpp"
#include "shmray/detail/values.hpp"
#include "shmray/object_ref.hpp"
#include "shmray/view.hpp"

namespace shmray::detail {

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
  /// In an actor's process: its object (nullptr before its factory ran, and elsewhere).
  virtual void* actor_instance() { return nullptr; }
  /// An actor's factory made `self`: the process keeps it (and `destroy` ends it).
  virtual void set_actor_instance(void* self, void (*destroy)(void*)) {
    (void)self;
    (void)destroy;
  }

 protected:
  ~TaskCall() = default;
};

template <class D>
D decode_argument(InArchive& ar, TaskCall& call) {
  std::uint8_t tag = 0;
  ar(tag);
  if constexpr (is_view_v<D>) {
    using T = typename is_view<D>::inner;
    if (tag != static_cast<std::uint8_t>(ArgTag::kResolve))
      throw_serialization_error("a View parameter needs an ObjectRef argument");
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

/// Decodes the arguments (in parameter order) and calls `f` with them.
template <class R, class... P, class F>
R call_with_arguments(TaskCall& call, F&& f) {
  InArchive& ar = call.args();
  std::tuple<std::remove_cvref_t<P>...> args{decode_argument<std::remove_cvref_t<P>>(ar, call)...};
  if (ar.remaining() != 0) throw_serialization_error("task arguments have trailing bytes");
  call.before_body();
  return std::apply([&](auto&... a) -> R { return f(std::move(a)...); }, args);
}

/// Throws std::logic_error (the actor's creation fails with it): its factory returned nullptr.
[[noreturn]] SHMRAY_API void throw_null_actor();
/// Throws: a method call reached a process that holds no actor object.
[[noreturn]] SHMRAY_API void throw_no_actor();

template <class T>
void destroy_actor(void* self) {
  delete static_cast<T*>(self);
}

/// Stores what a method or function returned as the task's result.
template <class R, class Run>
void store_result(TaskCall& call, Run&& run) {
  if constexpr (std::is_void_v<R>) {
    run();
    call.set_result(ValueSource{});
  } else if constexpr (is_buffer<R>::value) {
    R result = run();
    call.set_result_block(result.release());
  } else {
    std::vector<ObjectId> contained;
    const R result = run();
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
void invoke_function(AnyFn fn, TaskCall& call) {
  auto f = reinterpret_cast<R (*)(P...)>(fn);
  store_result<R>(call, [&]() -> R { return call_with_arguments<R, P...>(call, f); });
}

/// An actor's factory: makes the object the actor's process keeps; its result carries no value.
template <class T, class... P>
void invoke_factory(AnyFn fn, TaskCall& call) {
  auto f = reinterpret_cast<T* (*)(P...)>(fn);
  T* self = call_with_arguments<T*, P...>(call, f);
  if (!self) throw_null_actor();
  call.set_actor_instance(self, &destroy_actor<T>);
  call.set_result(ValueSource{});
}

/// An actor method `M` (a member pointer of class C, in `method`) called on the actor's object.
template <class M, class C, class R, class... P>
void invoke_method(const std::byte* method, void* self, TaskCall& call) {
  if (!self) throw_no_actor();
  M m;
  std::memcpy(&m, method, sizeof m);
  C* obj = static_cast<C*>(self);
  store_result<R>(call, [&]() -> R {
    return call_with_arguments<R, P...>(call,
                                        [&](auto&&... a) -> R { return (obj->*m)(std::forward<decltype(a)>(a)...); });
  });
}

}  // namespace shmray::detail
