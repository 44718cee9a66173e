#pragma once
// Waiting for objects to become final, in the driver and in workers: spin a little (a
// cross-CPU futex wake costs ~35 us here, a spinning reader sees the result in well under
// 1 us), then mark the objects kObjWaiters and sleep on the header's object_epoch, which
// every writer of a marked object bumps.
#include <cstddef>
#include <span>
#include <vector>

#include "common/views.hpp"
#include "shmray/detail/runtime_api.hpp"

namespace shmray::common {

/// What the waiting process does while it waits (driver: drain worker events; worker: run
/// the awaited task inline).
class WaitHelper {
 public:
  /// Does a bounded piece of useful work; true if it did any.
  virtual bool help() { return false; }
  /// Called before sleeping; the wait sleeps at most the returned nanoseconds (<0: no limit).
  virtual std::int64_t before_sleep() { return -1; }

 protected:
  ~WaitHelper() = default;
};

enum class WaitOutcome { kFinal, kTimeout, kBadId };

/// Waits until `id` is final; `word` receives its state word.
WaitOutcome wait_final(const Views& v, ObjectId id, detail::Deadline until, WaitHelper& helper, shm::ObjectWord& word);

/// Marks ready[i] for the first `num_returns` final ids in input order; returns how many
/// (fewer at the deadline). Throws std::invalid_argument for an id of no live object. With
/// `failed`, it also returns as soon as a scan finds a failed object: *failed is its index
/// (the first failed in input order among those not seen final before), else ids.size().
std::size_t wait_many(const Views& v, std::span<const ObjectId> ids, std::size_t num_returns, detail::Deadline until,
                      WaitHelper& helper, std::vector<char>& ready, std::size_t* failed = nullptr);

/// as_completed(): waits until one of `ids` is final (or `until`), then appends the index of
/// every final one (ascending) to `final`; returns how many (0 only at the deadline).
/// Throws std::invalid_argument for an id of no live object.
std::size_t wait_any(const Views& v, std::span<const ObjectId> ids, detail::Deadline until, WaitHelper& helper,
                     std::vector<std::uint32_t>& final);

/// get(): waits for `id` and returns its payload, or throws what the object failed with
/// (GetTimeoutError at `until`, std::invalid_argument for an id of no live object).
std::span<const std::byte> fetch_object(const Views& v, ObjectId id, detail::Deadline until, WaitHelper& helper);

/// wait()'s argument checks: num_returns in 1..ids.size(), no empty and no repeated ref.
/// O(ids.size()), no allocation once this thread's bitmap has grown to the table.
void check_wait_arguments(std::span<const ObjectId> ids, std::size_t num_returns);

/// Spin budget before sleeping, in ns.
inline constexpr std::uint64_t kSpinNs = 50'000;

}  // namespace shmray::common
