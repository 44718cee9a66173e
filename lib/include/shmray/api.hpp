#pragma once
/// @file api.hpp
/// init/shutdown/Session and put, get, wait, cancel, cancelled, get_view.
#include <chrono>
#include <cstddef>
#include <iterator>
#include <stdexcept>
#include <vector>
#include "shmray/detail/config.hpp"

#include "shmray/buffer.hpp"
#include "shmray/detail/invoke.hpp"
#include "shmray/detail/runtime_api.hpp"
#include "shmray/object_ref.hpp"
#include "shmray/options.hpp"
#include "shmray/view.hpp"

namespace shmray {

/// Maps the shared segment and starts the worker pool. Call it early, before the program
/// starts threads of its own: workers are forked from the calling process.
/// Throws AlreadyInitializedError when running, std::invalid_argument for options out of range.
SHMRAY_API void init(const Options& options = {});
/// Stops the pool and frees the segment; idempotent; also runs at normal exit.
SHMRAY_API void shutdown() noexcept;
/// True from init() until shutdown(), and inside a task; false in a process forked from one
/// that runs a pool.
SHMRAY_API bool is_initialized() noexcept;

/// init() in the constructor, shutdown() in the destructor.
/// @code
/// int main() { shmray::Session s({.num_workers = 2}); ... }
/// @endcode
class Session {
 public:
  /// Calls init(options).
  explicit Session(const Options& options = {}) { init(options); }
  ~Session() { shutdown(); }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
};

/// Stores `value` once; pass the ref to many tasks.
template <class T>
ObjectRef<T> put(const T& value) {
  static_assert(detail::is_serializable_v<T>,
                "shmray::put: the type cannot be serialized by cereal (see SHMRAY_REMOTE's note)");
  std::vector<detail::ObjectId> contained;
  detail::RuntimeCall rt;
  return ObjectRef<T>::adopt(rt->put(detail::put_value_source(value, contained)));
}

/// Stores a Buffer's bytes where they already are (no copy); the buffer is empty after.
template <class T>
ObjectRef<std::vector<T>> put(Buffer<T>&& buffer) {
  detail::RuntimeCall rt;
  return ObjectRef<std::vector<T>>::adopt(rt->put_block(buffer.release()));
}

namespace detail {
template <class T>
T read_object(const ObjectRef<T>& ref, Deadline until) {
  RuntimeCall rt;  // held while the bytes are decoded: they live in the segment
  auto bytes = rt->fetch(ref.checked_id("shmray::get"), until);
  if constexpr (std::is_void_v<T>) {
    if (!bytes.empty()) throw_serialization_error("a void result holds bytes");
  } else {
    return decode_value<T>(bytes);
  }
}
}  // namespace detail

/// Blocks until the value is ready. Throws TaskError (or the error its task met).
template <class T>
T get(const ObjectRef<T>& ref) {
  return detail::read_object(ref, detail::Deadline::never());
}
/// As get(ref), but throws GetTimeoutError after `timeout`.
template <class T, class Rep, class Period>
T get(const ObjectRef<T>& ref, std::chrono::duration<Rep, Period> timeout) {
  return detail::read_object(ref, detail::Deadline::after(timeout));
}
namespace detail {
/// get() of a list: waits for all of them, but throws as soon as one has failed (the first
/// in list order among those failed when it looks), without waiting for slower ones before it.
template <class T>
void wait_list(const std::vector<ObjectRef<T>>& refs, Deadline until) {
  if (refs.empty()) return;
  std::vector<ObjectId> ids;
  ids.reserve(refs.size());
  const std::uint64_t live = live_generation();
  for (const auto& r : refs) ids.push_back(r.checked_id("shmray::get", live));
  RuntimeCall rt;
  const std::size_t failed = rt->wait_all_or_failure(ids, until);
  if (failed < refs.size()) (void)rt->fetch(ids[failed], until);  // throws its error
}
}  // namespace detail

/// All values, in the given order. Throws the error of a failed ref as soon as one has
/// failed (the first in list order among those failed at that moment).
template <class T>
std::vector<T> get(const std::vector<ObjectRef<T>>& refs) {
  detail::wait_list(refs, detail::Deadline::never());
  std::vector<T> out;
  out.reserve(refs.size());
  for (const auto& r : refs) out.push_back(detail::read_object(r, detail::Deadline::never()));
  return out;
}
/// As get(refs), but throws GetTimeoutError after `timeout` (one deadline for the whole list).
template <class T, class Rep, class Period>
std::vector<T> get(const std::vector<ObjectRef<T>>& refs, std::chrono::duration<Rep, Period> timeout) {
  const auto until = detail::Deadline::after(timeout);
  detail::wait_list(refs, until);
  std::vector<T> out;
  out.reserve(refs.size());
  for (const auto& r : refs) out.push_back(detail::read_object(r, until));
  return out;
}

/// Waits for results that carry no value (tasks returning void).
inline void get(const std::vector<ObjectRef<void>>& refs) {
  detail::wait_list(refs, detail::Deadline::never());
  for (const auto& r : refs) detail::read_object(r, detail::Deadline::never());
}
/// As get(refs) for void results, but throws GetTimeoutError after `timeout`.
template <class Rep, class Period>
void get(const std::vector<ObjectRef<void>>& refs, std::chrono::duration<Rep, Period> timeout) {
  const auto until = detail::Deadline::after(timeout);
  detail::wait_list(refs, until);
  for (const auto& r : refs) detail::read_object(r, until);
}

template <class T>
T ObjectRef<T>::get() const {
  return shmray::get(*this);
}

/// What wait() returns.
template <class T>
struct WaitResult {
  ///@{
  /// `ready`: at most num_returns refs that are ready (or failed); `rest`: the others. Each in
  /// the input's order.
  std::vector<ObjectRef<T>> ready, rest;
  ///@}
};

namespace detail {
/// wait()'s common part: marks (*scratch).ready for the refs returned as ready; returns how
/// many. The ids and marks live in per-thread buffers: no allocation once they have grown.
template <class T>
std::size_t wait_marks(const std::vector<ObjectRef<T>>& refs, const WaitOptions& options, WaitScratch& scratch) {
  std::vector<ObjectId>& ids = (*scratch).ids;
  ids.reserve(refs.size());
  const std::uint64_t live = live_generation();
  for (const auto& r : refs) ids.push_back(r.checked_id("shmray::wait", live));
  const auto until = options.timeout ? Deadline::after(*options.timeout) : Deadline::never();
  RuntimeCall rt;
  return rt->wait(ids, options.num_returns, until, (*scratch).ready);
}
/// Puts the `n` refs marked in `ready` into out.ready and the others into out.rest, each in
/// input order: the runs between marks go over as ranges, so that a wait for one of many
/// costs about a plain copy of the list.
template <class T, class It>
void split_marked(It first, It last, const std::vector<char>& ready, std::size_t n, WaitResult<T>& out) {
  const std::size_t size = static_cast<std::size_t>(last - first);
  out.ready.reserve(n);
  out.rest.reserve(size - n);
  It run = first;
  for (std::size_t i = 0; i < size && out.ready.size() < n; ++i)
    if (ready[i]) {
      out.rest.insert(out.rest.end(), run, first + i);
      out.ready.push_back(*(first + i));
      run = first + i + 1;
    }
  out.rest.insert(out.rest.end(), run, last);
}
}  // namespace detail

/// Returns when `num_returns` refs are ready (or at the timeout): `ready` holds at most
/// num_returns of them, `rest` the others, each in the input's order. A failed object counts
/// as ready. Never throws for a timeout; std::invalid_argument for num_returns of 0 or larger
/// than the list, a duplicate or empty ref, or a negative timeout. Costs O(refs.size()): one
/// pass to check for repeats, a look at the refs' states until num_returns are found, and one
/// copy of each ref into the result (pass the list as an rvalue, `wait(std::move(v))`, to move them instead).
/// @code
/// auto [ready, rest] = shmray::wait(refs, {.num_returns = 5, .timeout = 10s});
/// @endcode
template <class T>
WaitResult<T> wait(const std::vector<ObjectRef<T>>& refs, const WaitOptions& options = {}) {
  WaitResult<T> out;
  if (refs.empty()) return out;
  detail::WaitScratch scratch;
  const std::size_t n = detail::wait_marks(refs, options, scratch);
  const std::vector<char>& ready = (*scratch).ready;
  detail::split_marked(refs.begin(), refs.end(), ready, n, out);
  return out;
}
/// As wait(refs, options), but moves the refs into the result instead of copying them (no
/// reference count changes): `auto [r, rest] = shmray::wait(std::move(v)); v = std::move(rest);`.
/// On a throw `refs` is left as it was.
template <class T>
WaitResult<T> wait(std::vector<ObjectRef<T>>&& refs, const WaitOptions& options = {}) {
  WaitResult<T> out;
  if (refs.empty()) return out;
  detail::WaitScratch scratch;
  const std::size_t n = detail::wait_marks(refs, options, scratch);
  const std::vector<char>& ready = (*scratch).ready;
  detail::split_marked(std::make_move_iterator(refs.begin()), std::make_move_iterator(refs.end()), ready, n, out);
  refs.clear();
  return out;
}

/// A queued task never runs; a running one is flagged (or, with force, its worker is killed).
/// Either way get() on the ref throws TaskCancelledError. Cancelling a finished task does nothing.
template <class T>
void cancel(const ObjectRef<T>& ref, const CancelOptions& options = {}) {
  detail::RuntimeCall rt;
  rt->cancel(ref.checked_id("shmray::cancel"), options);
}

/// Inside a task: has this task been cancelled? Outside a task: false.
SHMRAY_API bool cancelled();

/// How much of the object store is in use (store_stats()); in a task, from a scan of the
/// shared tables instead of the driver's counts.
struct StoreStats {
  std::size_t capacity_bytes = 0;  ///< the store's size
  std::size_t used_bytes = 0;      ///< bytes of the blocks that hold live objects' payloads
  std::size_t objects = 0;         ///< objects alive (results, puts, pending results)
  std::size_t reserved_bytes = 0;  ///< arena taken by some process (64 KiB spans; includes a few
                                   ///< cached empty spans per process and size class)
};
/// The store's figures now. In a task: the same store's figures; NotInitializedError before init().
SHMRAY_API StoreStats store_stats();

/// Writes the task timeline recorded so far to `path` (Chrome trace event JSON, as
/// Options::timeline writes at shutdown; tasks running now appear with outcome "unfinished").
/// With the timeline off (neither Options::timeline nor SHMRAY_TIMELINE given) the file holds
/// no task. Throws NotInitializedError before init(), Error in a task (the driver records the
/// timeline) or when the file cannot be written.
SHMRAY_API void timeline(const std::string& path);

/// Zero-copy read of a contiguous object (see View).
template <class T>
View<T> get_view(const ObjectRef<T>& ref) {
  detail::RuntimeCall rt;
  return View<T>(ref, rt->fetch(ref.checked_id("shmray::get_view"), detail::Deadline::never()));
}
/// As get_view(ref), but throws GetTimeoutError after `timeout`.
template <class T, class Rep, class Period>
View<T> get_view(const ObjectRef<T>& ref, std::chrono::duration<Rep, Period> timeout) {
  const auto until = detail::Deadline::after(timeout);
  detail::RuntimeCall rt;
  return View<T>(ref, rt->fetch(ref.checked_id("shmray::get_view"), until));
}

}  // namespace shmray
