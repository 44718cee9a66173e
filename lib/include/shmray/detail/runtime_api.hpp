#pragma once
/// @file runtime_api.hpp
/// The one seam between public templates and the runtime: templates type-check a call,
/// serialize its values and hand bytes through RuntimeApi. The driver process and worker
/// processes each have their own implementation (lib/src/driver, lib/src/worker).
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <new>
#include <span>
#include <stdexcept>
#include <string_view>
#include <type_traits>
#include <vector>
#include "shmray/detail/config.hpp"

#include "shmray/detail/object_id.hpp"
#include "shmray/options.hpp"

namespace shmray::detail {

using Clock = std::chrono::steady_clock;

/// A point in time to give up waiting; `never()` waits without limit.
struct SHMRAY_API Deadline {
  Clock::time_point at = Clock::time_point::max();
  static Deadline never() { return {}; }
  /// Throws std::invalid_argument for a negative duration.
  static Deadline after(std::chrono::nanoseconds d);
  /// Any duration type; one too long for nanoseconds (hours::max()) means no limit.
  template <class Rep, class Period>
  static Deadline after(std::chrono::duration<Rep, Period> d);
  bool is_never() const { return at == Clock::time_point::max(); }
};

/// `d` in nanoseconds without overflow: saturates at nanoseconds::max() (Deadline::after
/// makes that never()); a negative `d` stays negative (and is rejected), NaN is rejected.
template <class Rep, class Period>
std::chrono::nanoseconds saturating_ns(std::chrono::duration<Rep, Period> d) {
  using Wide = std::chrono::duration<long double, std::nano>;
  if constexpr (std::is_floating_point_v<Rep>)
    if (d.count() != d.count()) throw std::invalid_argument("shmray: a timeout must not be NaN");
  if (d < std::chrono::duration<Rep, Period>::zero()) return std::chrono::nanoseconds(-1);
  const Wide wide(d);
  if (wide >= Wide(std::chrono::nanoseconds::max())) return std::chrono::nanoseconds::max();
  // Large values through long double: duration_cast's intermediate product could overflow.
  if (wide > Wide(std::chrono::nanoseconds::max()) / 1024)
    return std::chrono::nanoseconds(static_cast<std::chrono::nanoseconds::rep>(wide.count()));
  return std::chrono::duration_cast<std::chrono::nanoseconds>(d);
}

template <class Rep, class Period>
Deadline Deadline::after(std::chrono::duration<Rep, Period> d) {
  return after(saturating_ns(d));
}

/// A value to be stored: `size` bytes that `write` produces into the span it is given.
struct ValueSource {
  std::size_t size = 0;
  void (*write)(const void* ctx, std::span<std::byte> into) = nullptr;
  const void* ctx = nullptr;
  std::span<const ObjectId> contained;  ///< ObjectRefs inside the value: the object holds them
};

/// A block of the object store a process allocated for a value it writes in place
/// (Buffer<T>): its arena offset and the bytes the value takes.
struct ValueBlock {
  std::uint64_t offset = 0;
  std::size_t size = 0;
};

/// One task submission.
struct SubmitRequest {
  std::uint32_t function = 0;           ///< registry index
  std::span<const std::byte> args;      ///< encoded arguments (see encode.hpp)
  std::span<const ObjectId> resolve;    ///< refs resolved to values: the task waits for them
  std::span<const ObjectId> contained;  ///< refs passed as refs: held while the task lives
  const TaskOptions* options = nullptr;
  /// Set (by task(f).remote() only) for arguments too large to stage: `args` is empty and the
  /// runtime has these `size` bytes written straight where the task reads them (one copy).
  /// An exception of its write fails the submit; the runtime then keeps nothing of it.
  const ValueSource* args_source = nullptr;
};

/// The state of one as_completed() watch (lib/src/common/completion_watch.hpp).
struct WatchState;

/// Implemented by the driver runtime and by the worker runtime.
class SHMRAY_API RuntimeApi {
 public:
  virtual ~RuntimeApi() = default;
  /// Returns the result's id, carrying one reference owned by the caller.
  virtual ObjectId submit(const SubmitRequest& req) = 0;
  /// Stores a value; the id carries one reference owned by the caller.
  virtual ObjectId put(const ValueSource& value) = 0;
  /// Waits until `id` is final and returns its bytes, valid while the caller holds a
  /// reference; throws the error the object failed with, or GetTimeoutError at `until`.
  virtual std::span<const std::byte> fetch(ObjectId id, Deadline until) = 0;
  /// Sets ready[i] = 1 for the first `num_returns` final ids in input order (or fewer at
  /// `until`); returns how many it set.
  virtual std::size_t wait(std::span<const ObjectId> ids, std::size_t num_returns, Deadline until,
                           std::vector<char>& ready) = 0;
  /// For get() of a list: waits until every id is final, or until one has failed, or
  /// `until`. Returns the index of a failed id (the first in list order among those seen
  /// failed by the scan that found it), else ids.size(). Ids may repeat.
  virtual std::size_t wait_all_or_failure(std::span<const ObjectId> ids, Deadline until) = 0;
  /// For the on_ready notifier (as_completed() uses collect_completed): waits until at least
  /// one of `ids` is final (or `until`), then
  /// appends to `final` the index of every id final at that look, ascending; returns how many
  /// it appended (0 only at `until`). Throws std::invalid_argument for an id of no live object.
  virtual std::size_t collect_final(std::span<const ObjectId> ids, Deadline until,
                                    std::vector<std::uint32_t>& final) = 0;
  /// For as_completed(), through CompletionWatch: waits until at least one id of the watch
  /// not returned before is final (or `until`), then appends to `found` the input index of
  /// each found so (ascending); returns how many (0 at `until` or when none is left). O(1) per
  /// result: the writers of objects tell a registered watch what they made final (the
  /// completion ring). Throws std::invalid_argument for an id of no live object.
  virtual std::size_t collect_completed(WatchState& watch, Deadline until, std::vector<std::uint32_t>& found) = 0;
  virtual void add_ref(ObjectId id) = 0;
  virtual void release(ObjectId id) noexcept = 0;
  virtual void cancel(ObjectId id, const CancelOptions& options) = 0;
  virtual bool cancelled() = 0;
  /// A block of `bytes` in the store for a value written in place; `*at` receives its
  /// address. Waits for space, then throws ObjectStoreFullError.
  virtual std::uint64_t allocate_block(std::size_t bytes, void** at) = 0;
  /// Gives back a block from allocate_block that did not become an object.
  virtual void free_block(std::uint64_t offset) noexcept = 0;
  /// Makes a block from allocate_block an object (no copy); the id carries one reference.
  virtual ObjectId put_block(const ValueBlock& block) = 0;

  // Actors (actor.hpp). An actor is named by the id of its creation result: that object is
  // final once its factory ran (failed when it threw), and its references are the actor's
  // handles: the actor stops when the last one is gone (unless it is named and detached).
  /// Starts an actor whose factory call is `req`; the id carries one reference.
  virtual ObjectId create_actor(const SubmitRequest& req, const ActorOptions& options) = 0;
  /// Submits a call of a method (`req.function`) to `actor`; the result's id carries one reference.
  virtual ObjectId submit_method(ObjectId actor, const SubmitRequest& req) = 0;
  /// The live actor named `name`, with one reference; throws ActorNotFoundError when there is
  /// none, or when its factory makes another class than `class_type` (a typeid name).
  virtual ObjectId get_actor(std::string_view name, std::string_view class_type) = 0;
  /// Stops `actor` at once (SIGKILL); with `no_restart` false it restarts when it may.
  virtual void kill_actor(ObjectId actor, bool no_restart) = 0;
};

/// std::invalid_argument naming `what` when an id appears twice in `ids`, or one is empty.
/// O(ids.size()), one pass: a per-thread table of which call last saw each slot index.
SHMRAY_API void check_distinct(std::span<const ObjectId> ids, const char* what);

/// The id and mark buffers of one wait() call, kept by the thread for its next call (a wait
/// nested in this one, in a task run inline meanwhile, takes another pair): no allocation
/// per call once they are large enough.
struct WaitBuffers {
  std::vector<ObjectId> ids;  ///< the refs' ids, in the input's order
  std::vector<char> ready;    ///< ready[i]: ids[i] is among the returned ones
};
/// Holds this thread's next free WaitBuffers for its lifetime.
class SHMRAY_API WaitScratch {
 public:
  WaitScratch();
  ~WaitScratch();
  WaitScratch(const WaitScratch&) = delete;
  WaitScratch& operator=(const WaitScratch&) = delete;
  /// The buffers (ids empty, ready as the previous user left it).
  WaitBuffers& operator*() const noexcept { return *b_; }

 private:
  WaitBuffers* b_;
};

/// The runtime of this process; throws NotInitializedError when there is none
/// (ForkedProcessError in a process forked from one that runs a pool).
SHMRAY_API RuntimeApi& runtime();

/// The runtime, held for one call: shutdown() stops such calls (they throw
/// NotInitializedError) and waits for them to leave before it frees the pool, so a call
/// blocked in another thread never touches freed memory.
class SHMRAY_API RuntimeCall {
 public:
  /// Throws as runtime() does.
  RuntimeCall();
  /// No throw: check ok() (for noexcept paths: reference releases).
  explicit RuntimeCall(std::nothrow_t) noexcept;
  ~RuntimeCall();
  RuntimeCall(const RuntimeCall&) = delete;
  RuntimeCall& operator=(const RuntimeCall&) = delete;
  bool ok() const noexcept { return rt_ != nullptr; }
  RuntimeApi* operator->() const noexcept { return rt_; }

 private:
  RuntimeApi* rt_ = nullptr;
};
/// as_completed()'s watch over a list of distinct ids: collect() returns, each once, the
/// input index of those that became final. Move-only; the destructor ends the watch (only in
/// the runtime it was started in: after shutdown() or a new init() it just frees its state).
class SHMRAY_API CompletionWatch {
 public:
  CompletionWatch() noexcept = default;
  /// Takes `ids` (checked by the caller: distinct, not empty); registers nothing yet.
  explicit CompletionWatch(std::vector<ObjectId> ids);
  CompletionWatch(CompletionWatch&& o) noexcept : s_(o.s_) { o.s_ = nullptr; }
  CompletionWatch& operator=(CompletionWatch&& o) noexcept;
  CompletionWatch(const CompletionWatch&) = delete;
  CompletionWatch& operator=(const CompletionWatch&) = delete;
  ~CompletionWatch();
  /// As RuntimeApi::collect_completed, holding the runtime for the call (RuntimeCall).
  std::size_t collect(Deadline until, std::vector<std::uint32_t>& found);

 private:
  WatchState* s_ = nullptr;
};

/// Which init() of this process runs now (a 64-bit counter; 0 before the first).
SHMRAY_API std::uint64_t runtime_generation() noexcept;
/// free_block on the current runtime when it is still the one of `generation` (a Buffer
/// that outlives shutdown() just goes).
SHMRAY_API void free_block_noexcept(std::uint64_t offset, std::uint64_t generation) noexcept;

}  // namespace shmray::detail
