#pragma once
/// @file task.hpp
/// task(f).options({...}).remote(args...): submit a call of a registered function.
#include "shmray/detail/config.hpp"

#include <type_traits>
#include <utility>

#include "shmray/buffer.hpp"
#include "shmray/detail/invoke.hpp"
#include "shmray/detail/registry.hpp"
#include "shmray/object_ref.hpp"
#include "shmray/options.hpp"

namespace shmray {

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
  explicit TaskCaller(R (*f)(P...)) : index_(detail::function_index_or_throw(reinterpret_cast<detail::AnyFn>(f))) {}

  TaskCaller& options(TaskOptions o) & {
    options_ = std::move(o);
    return *this;
  }
  TaskCaller&& options(TaskOptions o) && {
    options_ = std::move(o);
    return std::move(*this);
  }

  /// Submits the call and returns at once. An ObjectRef<T> given for a parameter of type T
  /// is resolved in the worker when ready; a parameter of type ObjectRef<T> gets the ref.
  /// The result's ref: ObjectRef<R>, or ObjectRef<std::vector<T>> when R is Buffer<T>.
  using Result = ObjectRef<detail::stored_t<R>>;

  template <class... A>
  Result remote(A&&... a) const {
    static_assert(sizeof...(A) == sizeof...(P),
                  "shmray: task(f).remote(...) got a different number of arguments than f has parameters");
    if constexpr (sizeof...(A) == sizeof...(P)) {
      static_assert((detail::check_argument<P, A>() && ...));
      detail::ScratchLease lease;
      detail::EncodeScratch& s = *lease;
      s.bytes.clear();
      s.resolve.clear();
      s.contained.clear();
      {
        detail::OutArchive ar(s.bytes);
        ar.collect_refs(&s.contained);
        std::size_t position = 0;
        (detail::encode_argument<P>(ar, s.resolve, std::forward<A>(a), position++, index_), ...);
      }
      detail::SubmitRequest req;
      req.function = index_;
      req.args = std::as_bytes(std::span(s.bytes.data(), s.bytes.size()));
      req.resolve = s.resolve;
      req.contained = s.contained;
      req.options = &options_;
      detail::RuntimeCall rt;
      return Result::adopt(rt->submit(req));
    }
  }

 private:
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
  requires(!std::is_function_v<std::remove_pointer_t<std::decay_t<F>>>)
void task(F&&) {
  static_assert(sizeof(F) == 0,
                "shmray::task(f): f must be a plain function registered with SHMRAY_REMOTE; a lambda, functor, "
                "std::function or member function cannot be named in a worker process: wrap the call in a named "
                "function at namespace scope and add SHMRAY_REMOTE(that_function) next to it");
}

}  // namespace shmray
