#pragma once
/// @file task.hpp
/// task(f).options({...}).remote(args...): submit a call of a registered function.
#include "shmray/detail/config.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include "shmray/buffer.hpp"
#include "shmray/detail/invoke.hpp"
#include "shmray/detail/registry.hpp"
#include "shmray/object_ref.hpp"
#include "shmray/options.hpp"

namespace shmray {

namespace detail {
/// Encodes the arguments of a call of a function with parameters P... into `s` (each a value,
/// or the id of a ref resolved in the worker) and returns the request that points at them.
template <class... P, class... A>
SubmitRequest encode_call(EncodeScratch& s, std::uint32_t index, A&&... a) {
  s.bytes.clear();
  s.resolve.clear();
  s.contained.clear();
  {
    OutArchive ar(s.bytes);
    ar.collect_refs(&s.contained);
    std::size_t position = 0;
    (encode_argument<P>(ar, s.resolve, std::forward<A>(a), position++, index), ...);
  }
  SubmitRequest req;
  req.function = index;
  req.args = std::as_bytes(std::span(s.bytes.data(), s.bytes.size()));
  req.resolve = s.resolve;
  req.contained = s.contained;
  return req;
}

/// A type std::get and std::tuple_size work on: std::tuple, std::pair, std::array.
template <class T>
concept tuple_like = requires {
  std::tuple_size<T>::value;
};

/// remote_n's projection: element I of a stored tuple, as a task of its own.
template <std::size_t I, class Tuple>
std::tuple_element_t<I, Tuple> tuple_element_of(Tuple t) {
  return std::get<I>(std::move(t));
}

/// Registers tuple_element_of<I, Tuple> before main (as SHMRAY_REMOTE does) when remote_n
/// names it: each worker is a fork made later, so it knows the function by the same index.
template <std::size_t I, class Tuple>
struct TupleElementTask {
  using Element = std::tuple_element_t<I, Tuple>;
  static bool add() {
    static_assert(check_signature<Element, Tuple>());
    FunctionInfo info{"shmray::remote_n element " + std::to_string(I),
                      reinterpret_cast<AnyFn>(&tuple_element_of<I, Tuple>), &invoke_function<Element, Tuple>,
                      typeid(Element(*)(Tuple)).name()};
    info.internal = true;  // a shared name and signature is no conflict (registry.cpp)
    return register_function(std::move(info));
  }
  static inline const bool registered = add();
};

/// Encoded arguments up to this size are staged in the thread's scratch bytes (then copied
/// into the task's slot or block); larger ones are only sized, then written once, straight
/// into the store (SubmitRequest::args_source).
inline constexpr std::size_t kStagedArgsBytes = 64 * 1024;

/// Whether an argument A for a parameter P encodes to the same bytes twice, without moving
/// from it: it has the parameter's own type (no conversion), or it is a ref the worker resolves.
template <class P, class A>
constexpr bool encodes_twice() {
  using D = std::remove_cvref_t<P>;
  using AD = std::remove_cvref_t<A>;
  return std::is_same_v<AD, D> || (is_object_ref_v<AD> && !is_object_ref_v<D>);
}

/// Whether argument A for parameter P always encodes to a few bytes (a number, an enum, a
/// ref): a call of only such arguments never needs the sized path, and keeps encode_call's.
template <class P, class A>
constexpr bool encodes_small() {
  using D = std::remove_cvref_t<P>;
  using AD = std::remove_cvref_t<A>;
  return std::is_arithmetic_v<D> || std::is_enum_v<D> || is_object_ref_v<AD>;
}

/// The arguments of one call, held by reference for the runtime's writing pass.
template <class... A>
struct CallArgs {
  std::uint32_t index;
  std::tuple<const A&...> args;
};

template <class... P>
struct CallWriter {
  /// Encodes the call's arguments through `ar` (`resolve` gets the ids of the refs the
  /// worker resolves); returns the bytes they took.
  template <class... A>
  static std::size_t encode(OutArchive& ar, std::vector<ObjectId>& resolve, const CallArgs<A...>& c) {
    std::apply(
        [&](const A&... a) {
          std::size_t position = 0;
          (encode_argument<P>(ar, resolve, a, position++, c.index), ...);
        },
        c.args);
    return ar.size();
  }
  /// ValueSource::write for a call's arguments: the second pass, into the runtime's span.
  template <class... A>
  static void write(const void* ctx, std::span<std::byte> into) {
    OutArchive ar(into);
    std::vector<ObjectId> resolve;  // known from the sizing pass
    if (encode(ar, resolve, *static_cast<const CallArgs<A...>*>(ctx)) != into.size())
      throw_serialization_error("an argument changed size between sizing and writing");
  }
};

/// encode_call for arguments that encodes_twice: staged in `s` as encode_call does while
/// they take at most kStagedArgsBytes; past that only sized, and the request's args_source
/// (`big`, set here) writes them again, from `c` (the same arguments), where the runtime
/// wants them. The staging pass is encode_call's own code, so small calls cost what they did.
template <class... P, class C, class... A>
SubmitRequest encode_call_sized(EncodeScratch& s, ValueSource& big, const C& c, A&&... a) {
  s.bytes.clear();
  s.resolve.clear();
  s.contained.clear();
  std::size_t size = 0;
  bool overflowed = false;
  {
    OutArchive ar(s.bytes, kStagedArgsBytes);
    ar.collect_refs(&s.contained);
    std::size_t position = 0;
    // Forwarded as encode_call does: an argument that encodes_twice is never moved from.
    (encode_argument<P>(ar, s.resolve, std::forward<A>(a), position++, c.index), ...);
    size = ar.size();
    overflowed = ar.overflowed();
  }
  SubmitRequest req;
  req.function = c.index;
  req.resolve = s.resolve;
  req.contained = s.contained;
  if (!overflowed) {
    req.args = std::as_bytes(std::span(s.bytes.data(), s.bytes.size()));
  } else {
    big = ValueSource{size, &CallWriter<P...>::template write<std::remove_reference_t<A>...>, &c, {}};
    req.args_source = &big;
  }
  return req;
}
}  // namespace detail

template <class F>
class TaskCaller;

/// Returned by task(f). `remote` returns at once with a ref to the result.
/// @code
/// auto r = shmray::task(slow_square).options({.name = "sq"}).remote(4);
/// @endcode
template <class R, class... P>
class TaskCaller<R (*)(P...)> {
 public:
  /// Throws UnregisteredFunctionError when `f` has no SHMRAY_REMOTE.
  explicit TaskCaller(R (*f)(P...))
      : index_(detail::function_index_or_throw(reinterpret_cast<detail::AnyFn>(f), typeid(R(P...)).name())) {}

  ///@{
  /// Sets the options of the calls remote() submits from now on (all of them: a field not
  /// given takes its TaskOptions default).
  TaskCaller& options(TaskOptions o) & {
    options_ = std::move(o);
    return *this;
  }
  TaskCaller&& options(TaskOptions o) && {
    options_ = std::move(o);
    return std::move(*this);
  }
  ///@}

  /// The result's ref: ObjectRef<R>, or ObjectRef<std::vector<T>> when R is Buffer<T>.
  using Result = ObjectRef<detail::stored_t<R>>;

  /// Submits the call and returns at once. An ObjectRef<T> given for a parameter of type T
  /// is resolved in the worker when ready; a parameter of type ObjectRef<T> gets the ref.
  template <class... A>
  Result remote(A&&... a) const {
    static_assert(sizeof...(A) == sizeof...(P),
                  "shmray: task(f).remote(...) got a different number of arguments than f has parameters");
    if constexpr (sizeof...(A) == sizeof...(P)) {
      static_assert((detail::check_argument<P, A>() && ...));
      detail::ScratchLease lease;
      if constexpr ((detail::encodes_twice<P, A>() && ...) && !(detail::encodes_small<P, A>() && ...)) {
        detail::ValueSource big;
        const detail::CallArgs<std::remove_reference_t<A>...> call{index_, {a...}};
        detail::SubmitRequest req = detail::encode_call_sized<P...>(*lease, big, call, std::forward<A>(a)...);
        req.options = &options_;
        detail::RuntimeCall rt;
        return Result::adopt(rt->submit(req));
      } else {
        detail::SubmitRequest req = detail::encode_call<P...>(*lease, index_, std::forward<A>(a)...);
        req.options = &options_;
        detail::RuntimeCall rt;
        return Result::adopt(rt->submit(req));
      }
    }
  }

  /// For f returning a std::tuple (or pair, or array) of N elements: one ref per element, so
  /// a downstream task depends on, and receives, only the part it uses (Ray's num_returns).
  /// Each element is taken out by a small task of its own, after f's; an error of f reaches
  /// every element's ref. `auto [a, b] = shmray::task(split).remote_n<2>(x);`
  template <std::size_t N, class... A>
  auto remote_n(A&&... a) const {
    if constexpr (!detail::tuple_like<R>) {
      static_assert(detail::tuple_like<R>,
                    "shmray: remote_n<N> needs a function returning a std::tuple, std::pair "
                    "or std::array of N elements");
    } else {
      static_assert(std::tuple_size_v<R> == N, "shmray: remote_n<N>: N must be the size of the returned tuple");
      const Result whole = remote(std::forward<A>(a)...);
      return [&]<std::size_t... I>(std::index_sequence<I...>) {
        TaskOptions parts;
        parts.name = options_.name;
        parts.max_retries = options_.max_retries;
        return std::make_tuple(element_task<I>(parts, whole)...);
      }
      (std::make_index_sequence<N>{});
    }
  }

 private:
  template <std::size_t I>
  static auto element_task(const TaskOptions& o, const Result& whole) {
    (void)detail::TupleElementTask<I, R>::registered;  // instantiated: registered before main
    return TaskCaller<std::tuple_element_t<I, R> (*)(R)>(&detail::tuple_element_of<I, R>).options(o).remote(whole);
  }

  std::uint32_t index_;
  TaskOptions options_;
};

/// The caller for a function registered with SHMRAY_REMOTE.
template <class R, class... P>
TaskCaller<R (*)(P...)> task(R (*f)(P...)) {
  return TaskCaller<R (*)(P...)>(f);
}

/// Anything but a plain function (a lambda, a functor, a std::function, a member function)
/// cannot be named in a worker process: it stops the build with a message saying what to do.
template <class F>
requires(!std::is_function_v<std::remove_pointer_t<std::decay_t<F>>>) void task(F&&) {
  static_assert(sizeof(F) == 0,
                "shmray::task(f): f must be a plain function registered with SHMRAY_REMOTE; a lambda, functor, "
                "std::function or member function cannot be named in a worker process: wrap the call in a named "
                "function at namespace scope and add SHMRAY_REMOTE(that_function) next to it");
}

}  // namespace shmray
