#include "common/object_wait.hpp"

#include <algorithm>
#include <stdexcept>

#include "shm/futex.hpp"
#include "shmray/errors.hpp"
#include "wire/error_record.hpp"

namespace shmray::common {
namespace {

std::int64_t remaining_ns(detail::Deadline until) {
  if (until.is_never()) return -1;
  const auto left = until.at - detail::Clock::now();
  return std::max<std::int64_t>(0, std::chrono::duration_cast<std::chrono::nanoseconds>(left).count());
}

// Scans ids in order; returns how many are final (stopping at `want`), marking `ready`. With
// `failed`, it stops at the first failed object and stores its index there.
std::size_t scan(const Views& v, std::span<const ObjectId> ids, std::size_t want, std::vector<char>& ready, bool& bad,
                 std::size_t* failed) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < ids.size() && n < want; ++i) {
    if (ready[i]) {
      ++n;
      continue;
    }
    const shm::ObjectSlot* s = v.slot(ids[i]);
    if (!s) {
      bad = true;
      return n;
    }
    const shm::ObjectWord w = v.word(*s);
    if (w.gen != ids[i].gen() || w.is(shm::ObjectState::kFree)) {
      bad = true;
      return n;
    }
    if (w.final()) {
      ready[i] = 1;
      ++n;
      if (failed && w.is(shm::ObjectState::kFailed)) {
        *failed = i;
        return n;
      }
    }
  }
  return n;
}

[[noreturn]] void throw_no_live_object() {
  throw std::invalid_argument("shmray: an ObjectRef names no live object (from an earlier init()?)");
}

// Appends the index of every final id to `out`; returns how many.
std::size_t collect(const Views& v, std::span<const ObjectId> ids, std::vector<std::uint32_t>& out) {
  const std::size_t before = out.size();
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const shm::ObjectSlot* s = v.slot(ids[i]);
    if (!s) throw_no_live_object();
    const shm::ObjectWord w = v.word(*s);
    if (w.gen != ids[i].gen() || w.is(shm::ObjectState::kFree)) throw_no_live_object();
    if (w.final()) out.push_back(static_cast<std::uint32_t>(i));
  }
  return out.size() - before;
}

// Marks every open id kObjWaiters (a load only for one marked before); false when one was
// final meanwhile.
bool mark_waiters(const Views& v, std::span<const ObjectId> ids, const std::vector<char>* ready) {
  bool all_open = true;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (ready && (*ready)[i]) continue;
    if (!shm::set_object_flag(*v.slot(ids[i]), ids[i].gen(), shm::kObjWaiters)) all_open = false;
  }
  return all_open;
}

// check_distinct's memory: the number of the call that last saw each object slot index, so
// that a repeat costs O(n) with one pass and nothing to clear after (a bitmap needed a second
// pass to clear it: a fifth of a wait for one of 20,000 refs). 16-bit numbers: at the wrap,
// once in 65,535 calls, the table is zeroed. It grows to the highest slot index a thread's
// waits name: 2 MiB per such thread at the default 2^20 object slots (the bitmap: 128 KiB).
// Indices at or above kMaxMarked (no table is that large) name no live object and are left
// to the wait's own check.
constexpr std::uint32_t kMaxMarked = 1u << 24;
struct Stamps {
  std::vector<std::uint16_t> seen;
  std::uint16_t call = 0;
};
thread_local Stamps t_stamps;  // (looked up once per call: in a shared library each lookup is a call)

}  // namespace

std::size_t wait_any(const Views& v, std::span<const ObjectId> ids, detail::Deadline until, WaitHelper& helper,
                     std::vector<std::uint32_t>& final) {
  const std::uint64_t spin_until = shm::now_ns() + kSpinNs;
  for (;;) {
    if (const std::size_t n = collect(v, ids, final)) return n;
    if (helper.help()) continue;
    const std::int64_t left = remaining_ns(until);
    if (left == 0 || ids.empty()) return 0;
    if (shm::now_ns() < spin_until) {
      shm::cpu_relax();
      continue;
    }
    // As wait_many: read the epoch, mark, re-check, sleep on the epoch.
    std::uint32_t& epoch = v.hot->object_epoch.value;
    const std::uint32_t seen = shm::atom(epoch).load(std::memory_order_seq_cst);
    if (!mark_waiters(v, ids, nullptr)) continue;
    std::int64_t limit = helper.before_sleep();
    if (left >= 0) limit = limit < 0 ? left : std::min(limit, left);
    shm::futex_wait(&epoch, seen, std::chrono::nanoseconds(limit));
  }
}

std::size_t wait_many(const Views& v, std::span<const ObjectId> ids, std::size_t num_returns, detail::Deadline until,
                      WaitHelper& helper, std::vector<char>& ready, std::size_t* failed) {
  ready.assign(ids.size(), 0);
  bool bad = false;
  const std::uint64_t spin_until = shm::now_ns() + kSpinNs;
  if (failed) *failed = ids.size();
  for (std::size_t scans = 1;; ++scans) {
    std::size_t n = scan(v, ids, num_returns, ready, bad, failed);
    if (bad) throw_no_live_object();
    if (failed && *failed < ids.size()) return n;
    if (n >= num_returns) {
      // Keep only the first num_returns in input order. The first scan stops at num_returns
      // marks; a later one may stop before marks an earlier one set further on.
      if (scans > 1)
        for (std::size_t i = 0, k = 0; i < ready.size(); ++i)
          if (ready[i] && ++k > num_returns) ready[i] = 0;
      return num_returns;
    }
    if (helper.help()) continue;
    const std::int64_t left = remaining_ns(until);
    if (left == 0) return n;
    if (shm::now_ns() < spin_until) {
      shm::cpu_relax();
      continue;
    }
    // Sleep: read the epoch, mark every open object, re-check, then wait on the epoch.
    std::uint32_t& epoch = v.hot->object_epoch.value;
    const std::uint32_t seen = shm::atom(epoch).load(std::memory_order_seq_cst);
    if (!mark_waiters(v, ids, &ready)) continue;  // something became final meanwhile
    std::int64_t limit = helper.before_sleep();
    if (left >= 0) limit = limit < 0 ? left : std::min(limit, left);
    shm::futex_wait(&epoch, seen, std::chrono::nanoseconds(limit));
  }
}

WaitOutcome wait_final(const Views& v, ObjectId id, detail::Deadline until, WaitHelper& helper, shm::ObjectWord& word) {
  const shm::ObjectSlot* s = v.slot(id);
  if (!s) return WaitOutcome::kBadId;
  word = v.word(*s);
  if (word.gen != id.gen() || word.is(shm::ObjectState::kFree)) return WaitOutcome::kBadId;
  if (word.final()) return WaitOutcome::kFinal;
  std::vector<char> ready;
  const ObjectId one[] = {id};
  const std::size_t n = wait_many(v, one, 1, until, helper, ready);
  word = v.word(*s);
  return n == 1 ? WaitOutcome::kFinal : WaitOutcome::kTimeout;
}

std::span<const std::byte> fetch_object(const Views& v, ObjectId id, detail::Deadline until, WaitHelper& helper) {
  shm::ObjectWord w;
  switch (wait_final(v, id, until, helper, w)) {
    case WaitOutcome::kBadId:
      throw std::invalid_argument("shmray::get: ObjectRef(" + id.hex() +
                                  ") names no live object (a ref from before shutdown()/init()?)");
    case WaitOutcome::kTimeout:
      throw GetTimeoutError("shmray::get: ObjectRef(" + id.hex() + ") was not ready before the timeout");
    case WaitOutcome::kFinal: break;
  }
  std::span<const std::byte> bytes;
  if (!v.payload(*v.slot(id), bytes))
    throw SerializationError("shmray: ObjectRef(" + id.hex() + ") has a corrupt slot");
  if (w.is(shm::ObjectState::kFailed)) wire::throw_error(wire::decode_error(bytes));
  return bytes;
}

void check_wait_arguments(std::span<const ObjectId> ids, std::size_t num_returns) {
  if (num_returns == 0) throw std::invalid_argument("shmray::wait: num_returns must be at least 1");
  if (num_returns > ids.size())
    throw std::invalid_argument("shmray::wait: num_returns (" + std::to_string(num_returns) +
                                ") is larger than the number of refs (" + std::to_string(ids.size()) + ")");
  detail::check_distinct(ids, "shmray::wait");
}

}  // namespace shmray::common

namespace shmray::detail {

void check_distinct(std::span<const ObjectId> ids, const char* what) {
  using common::kMaxMarked;
  common::Stamps& st = common::t_stamps;
  if (++st.call == 0) {
    std::fill(st.seen.begin(), st.seen.end(), std::uint16_t{0});
    st.call = 1;
  }
  const std::uint16_t call = st.call;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const std::uint32_t x = ids[i].index();
    if (!ids[i].valid()) throw std::invalid_argument(std::string(what) + ": the list holds an empty ObjectRef");
    if (x >= kMaxMarked) continue;
    if (x >= st.seen.size())
      st.seen.resize(std::min<std::size_t>(kMaxMarked, std::max<std::size_t>(x + 1, st.seen.size() * 2)));
    if (st.seen[x] != call) {
      st.seen[x] = call;
      continue;
    }
    // The slot came before: the same id twice, or a stale id beside a live one. The next
    // call's number is new, so nothing marked here needs clearing.
    std::size_t j = 0;
    while (ids[j].index() != x) ++j;
    if (ids[j] == ids[i])
      throw std::invalid_argument(std::string(what) + ": ObjectRef(" + ids[i].hex() +
                                  ") appears twice; pass each ref once");
    common::throw_no_live_object();
  }
}

}  // namespace shmray::detail
