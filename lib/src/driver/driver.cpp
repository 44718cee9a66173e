// Driver start/stop and the RuntimeApi entry points that do not belong to one area.
#include "driver/driver.hpp"

#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <iostream>
#include <limits>
#include <stdexcept>

#include <unistd.h>

#include "common/completion_watch.hpp"
#include "shm/futex.hpp"
#include "shmray/detail/registry.hpp"
#include "shmray/errors.hpp"
#include "wire/error_record.hpp"

namespace shmray::driver {

/// While a driver thread waits for objects it drains worker events, so results other tasks
/// depend on are dispatched without waiting for the event thread.
class Driver::Helper final : public common::WaitHelper {
 public:
  explicit Helper(Driver& d) : d_(d) {}
  bool help() override {
    d_.throw_if_closing();
    if (!d_.events_pending()) return false;
    std::unique_lock lock(d_.mu_, std::try_to_lock);
    if (!lock.owns_lock()) return false;
    d_.pump_locked();
    return false;  // progress for others, not an answer for us: keep the spin budget honest
  }
  std::int64_t before_sleep() override {
    // Queued work while an idle worker exists: the spinner that should take it, or the
    // sleeper a wake-up went to, may be stopped. Look again after 1 ms; if no claim moved
    // the queue meanwhile, wake a sleeper (a stale spinner no longer counts). With every
    // worker busy nobody is idle, and nothing here costs a syscall.
    const common::Views& v = d_.v_;
    if (v.dispatch.empty() || !(v.spinning.any() || v.sleeping.any())) {
      seen_head_ = kNone;
      return 200'000'000;  // re-check now and then (housekeeping)
    }
    const std::uint64_t head = v.dispatch.head();
    if (head == seen_head_) {
      shm::full_fence();
      v.wake_one_idle();
    }
    seen_head_ = head;
    return 1'000'000;
  }

 private:
  static constexpr std::uint64_t kNone = ~std::uint64_t{0};
  Driver& d_;
  std::uint64_t seen_head_ = kNone;  // dispatch head at the last short sleep
};

/// A get/wait of a driver thread on the timeline: from its construction to its end (0: off).
class BlockNote {
 public:
  BlockNote(Driver& d, const char* what, std::span<const ObjectId> ids, std::uint64_t start_ns) noexcept
      : d_(d), what_(what), ids_(ids), start_(start_ns) {}
  ~BlockNote() {
    if (start_) d_.note_block(what_, ids_, start_);
  }
  BlockNote(const BlockNote&) = delete;
  BlockNote& operator=(const BlockNote&) = delete;

 private:
  Driver& d_;
  const char* what_;
  std::span<const ObjectId> ids_;
  std::uint64_t start_;
};

/// A thread of the library's own blocks every signal, so a signal meant for the host (one it
/// blocks everywhere and takes with sigwait, say) is never delivered to it. The mask is set
/// around the creation: a new thread starts with its creator's.
template <class F>
std::thread start_thread_without_signals(F&& f) {
  sigset_t all, old;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &old);
  try {
    std::thread t(std::forward<F>(f));
    ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
    return t;
  } catch (...) {
    ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
    throw;
  }
}

namespace {
// The registry as init() sealed it, by index: the counters' functions.
std::vector<std::string> registry_names() {
  std::vector<std::string> names;
  for (std::uint32_t i = 0; const detail::FunctionInfo* f = detail::function_at(i); ++i) names.push_back(f->name);
  return names;
}
}  // namespace

Driver::Driver(const Options& options, shm::Segment seg)
    : options_(options),
      seg_(std::move(seg)),
      v_(seg_),
      session_(seg_.geometry().session),
      objects_(v_, session_),
      tasks_(v_),
      pool_(seg_, v_, options.log_to_driver),
      actors_(v_.geo.pool_slots, v_.geo.max_workers - v_.geo.pool_slots),
      counters_(registry_names()),
      timeline_(seg_, v_, !options.timeline.empty()) {
  v_.shared->driver_pid = ::getpid();
}

std::unique_ptr<Driver> Driver::start(const Options& options, std::uint32_t session) {
  const unsigned n = options.num_workers;
  shm::SegmentParams p;
  p.session = session;
  p.num_workers = n;
  p.max_workers = options.max_workers + options.max_actors;  // actors' slots follow the pool's
  p.pool_slots = options.max_workers;
  p.arena_bytes = options.object_store_bytes;
  p.object_capacity = static_cast<std::uint32_t>(
      std::clamp<std::uint64_t>(options.object_store_bytes / 256, std::uint64_t{1} << 16, std::uint64_t{1} << 23));
  p.task_capacity = 1u << 15;
  p.store_full_timeout_ns = static_cast<std::uint64_t>(detail::saturating_ns(options.store_full_timeout).count());
  if (!options.timeline.empty()) p.timeline_entries = Timeline::kRingEntries;
  auto seg = shm::Segment::create(p);
  if (!seg) throw Error("shmray: could not map a shared segment of the requested size; lower object_store_bytes");
  std::unique_ptr<Driver> d(new Driver(options, std::move(*seg)));
  d->start_pool();
  d->event_thread_ = start_thread_without_signals([raw = d.get()] { raw->event_loop(); });
  // After the fork server is forked (no server thread in it, nor in any worker); a restarted
  // fork server closes the listening socket it inherits (forget_after_fork).
  if (!options.dashboard.empty())
    d->dashboard_ = Dashboard::start(options.dashboard, {d->v_, d->counters_, d->tasks_, d->objects_});
  return d;
}

Driver::~Driver() {
  dashboard_.reset();  // stops its server and joins its thread before anything it reads goes
  stopping_.store(true, std::memory_order_release);
  ring_doorbell();
  if (event_thread_.joinable()) event_thread_.join();
  pool_.stop();
  write_timeline_at_shutdown();  // the rings are still mapped; what the workers wrote is final
}

void Driver::throw_if_closing() const {
  if (closing_.load(std::memory_order_acquire))
    throw NotInitializedError(
        "shmray: shmray::shutdown() was called while this call was in progress; the runtime is gone");
}

void Driver::close_calls() noexcept {
  closing_.store(true, std::memory_order_seq_cst);
  shm::futex_bump_and_wake_all(&v_.hot->object_epoch.value);
  shm::futex_bump_and_wake_all(&v_.hot->arena_epoch.value);
}

void Driver::forget_after_fork() noexcept {
  if (dashboard_) dashboard_->forget_after_fork();
  pool_.forget_after_fork();
}

std::span<const std::byte> Driver::fetch(ObjectId id, detail::Deadline until) {
  throw_if_closing();
  Helper helper(*this);
  // A get of an object final already is no block: no clock read for it.
  const shm::ObjectSlot* s = timeline_.on() ? v_.live(id) : nullptr;
  const bool block = timeline_.on() && !(s && v_.word(*s).final());
  BlockNote note(*this, "get", std::span(&id, 1), block ? shm::now_ns() : 0);
  return common::fetch_object(v_, id, until, helper);
}

std::size_t Driver::wait(std::span<const ObjectId> ids, std::size_t num_returns, detail::Deadline until,
                         std::vector<char>& ready) {
  throw_if_closing();
  common::check_wait_arguments(ids, num_returns);
  Helper helper(*this);
  BlockNote note(*this, "wait", ids, timeline_.on() ? shm::now_ns() : 0);
  return common::wait_many(v_, ids, num_returns, until, helper, ready);
}

std::size_t Driver::wait_all_or_failure(std::span<const ObjectId> ids, detail::Deadline until) {
  Helper helper(*this);
  BlockNote note(*this, "get", ids, timeline_.on() ? shm::now_ns() : 0);
  std::vector<char> ready;
  std::size_t failed = ids.size();
  common::wait_many(v_, ids, ids.size(), until, helper, ready, &failed);
  return failed;
}

std::size_t Driver::collect_final(std::span<const ObjectId> ids, detail::Deadline until,
                                  std::vector<std::uint32_t>& final) {
  throw_if_closing();
  Helper helper(*this);
  BlockNote note(*this, "wait", ids, timeline_.on() ? shm::now_ns() : 0);
  return common::wait_any(v_, ids, until, helper, final);
}

std::size_t Driver::collect_completed(detail::WatchState& watch, detail::Deadline until,
                                      std::vector<std::uint32_t>& found) {
  throw_if_closing();
  Helper helper(*this);
  BlockNote note(*this, "wait", watch.ids, timeline_.on() ? shm::now_ns() : 0);
  return common::collect_completed(v_, watch, until, helper, found);
}

}  // namespace shmray::driver
