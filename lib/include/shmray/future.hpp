#pragma once
/// @file future.hpp
/// on_ready(ref, fn) and ObjectRef<T>::to_future(): be told when a result is there, for code
/// built on std::future or on an event loop.
#include <exception>
#include <functional>
#include <future>
#include <memory>
#include <type_traits>
#include <utility>
#include "shmray/detail/config.hpp"

#include "shmray/api.hpp"
#include "shmray/object_ref.hpp"

namespace shmray {

namespace detail {
/// Runs `fn` on shmray's notifier thread once `id` is final; drops it, never run, at
/// shutdown(). (`fn` holds a ref to the object, so it stays alive until then.)
SHMRAY_API void when_final(ObjectId id, std::function<void()> fn);
}  // namespace detail

/// Calls `fn(ref)` once the ref's object is final (ready or failed: ref.get() returns at once,
/// or throws the task's error). `fn` runs on a thread of shmray's (one per process, started by
/// the first on_ready), never in the caller: keep it short, and hand work to your own threads
/// or event loop from there. Callbacks run in no set order (refs that finish together may
/// call back in any order). An exception from `fn` is printed on stderr and dropped. At shutdown() callbacks
/// still pending are dropped without being called. Works inside tasks too. Throws
/// std::invalid_argument for an empty ref or one from before the last init().
/// @code
/// shmray::on_ready(ref, [&loop](shmray::ObjectRef<int> r) { loop.post([r] { show(r.get()); }); });
/// @endcode
template <class T, class F>
void on_ready(const ObjectRef<T>& ref, F&& fn) {
  static_assert(std::is_invocable_v<std::decay_t<F>&, const ObjectRef<T>&>,
                "shmray::on_ready(ref, fn): fn must be callable with the ObjectRef<T>");
  const detail::ObjectId id = ref.checked_id("shmray::on_ready");
  detail::when_final(id, [ref, f = std::forward<F>(fn)]() mutable { f(ref); });
}

/// A std::future of the value (or of the task's error), set by on_ready. A future whose ref
/// was still pending at shutdown() throws std::future_error (broken_promise) from get().
template <class T>
std::future<T> ObjectRef<T>::to_future() const {
  auto promise = std::make_shared<std::promise<T>>();
  std::future<T> future = promise->get_future();
  on_ready(*this, [promise](const ObjectRef<T>& r) {
    try {
      if constexpr (std::is_void_v<T>) {
        r.get();
        promise->set_value();
      } else {
        promise->set_value(r.get());
      }
    } catch (...) {
      promise->set_exception(std::current_exception());
    }
  });
  return future;
}

}  // namespace shmray
