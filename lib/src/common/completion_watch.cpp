#include "common/completion_watch.hpp"

#include <algorithm>
#include <stdexcept>
#include <utility>

#include "shm/completion_ring.hpp"
#include "shm/futex.hpp"

namespace shmray::detail {

WatchState::WatchState(std::vector<ObjectId> input) : ids(std::move(input)) {}

void WatchState::index_all() {
  if (indexed) return;
  indexed = true;
  const auto n = static_cast<std::uint32_t>(ids.size());
  open.resize(n);
  where.resize(n);
  for (std::uint32_t i = 0; i < n; ++i) open[i] = where[i] = i;
}

std::span<const ObjectId> WatchState::keep_open_ids() {
  index_all();
  if (!keep_ids) {
    keep_ids = true;
    open_ids.clear();
    for (std::uint32_t i : open) open_ids.push_back(ids[i]);
  }
  return open_ids;
}

// Built at the first entry to map, not up front: a list final at the first look (the common
// "drain what is done" loop) never needs it, and building it is most of a watch's setup.
void WatchState::build_table() {
  std::uint32_t cap = 16;
  while (cap < 2ull * ids.size()) cap <<= 1;
  keys.assign(cap, 0);
  vals.assign(cap, 0);
  mask = cap - 1;
  // The ids are distinct (check_distinct), so are their slot indexes: no key twice.
  for (std::uint32_t i = 0; i < ids.size(); ++i) {
    std::uint32_t h = (ids[i].index() * 0x9e3779b1u) & mask;
    while (vals[h] != 0) h = (h + 1) & mask;
    keys[h] = ids[i].index();
    vals[h] = i + 1;
  }
}

std::uint32_t WatchState::lookup(std::uint32_t index) const noexcept {
  if (vals.empty()) return kNone;
  for (std::uint32_t h = (index * 0x9e3779b1u) & mask;; h = (h + 1) & mask) {
    if (vals[h] == 0) return kNone;
    if (keys[h] == index) return vals[h] - 1;
  }
}

void WatchState::remove(std::uint32_t i) noexcept {
  const std::uint32_t k = where[i];
  if (k == kNone) return;
  const std::uint32_t last = open.back();
  open[k] = last;
  where[last] = k;
  open.pop_back();
  if (keep_ids) {
    open_ids[k] = open_ids.back();
    open_ids.pop_back();
  }
  where[i] = kNone;
}

}  // namespace shmray::detail

namespace shmray::common {
namespace {

constexpr std::uint64_t kLookNs = 100'000'000;  // a full look at least this often without news

std::int64_t remaining_ns(detail::Deadline until) {
  if (until.is_never()) return -1;
  const auto left = until.at - detail::Clock::now();
  return std::max<std::int64_t>(0, std::chrono::duration_cast<std::chrono::nanoseconds>(left).count());
}

[[noreturn]] void throw_no_live_object() {
  throw std::invalid_argument("shmray: an ObjectRef names no live object (from an earlier init()?)");
}

// Whether the object is final; std::invalid_argument when `id` names no live object.
bool final_or_throw(const Views& v, ObjectId id) {
  const shm::ObjectSlot* s = v.slot(id);
  if (!s) throw_no_live_object();
  const shm::ObjectWord w = v.word(*s);
  if (w.gen != id.gen() || w.is(shm::ObjectState::kFree)) throw_no_live_object();
  return w.final();
}

// Looks at every open id; the cursor moves first to the count, so whatever becomes final after
// that is in the ring (its writer made it final before taking its position). Removes the
// final ones only after every id passed its check (a throw leaves the state as it was).
// The first look of a watch not indexed yet: over the ids in input order, then open/where are
// built for what it left open only (none for a list final already: the "drain what is done" loop).
void first_look(const Views& v, detail::WatchState& ws, std::vector<std::uint32_t>& found) {
  const std::size_t before = found.size();
  const auto n = static_cast<std::uint32_t>(ws.ids.size());
  for (std::uint32_t i = 0; i < n; ++i)
    if (final_or_throw(v, ws.ids[i])) found.push_back(i);
  ws.indexed = true;
  if (found.size() - before == n) return;
  ws.where.assign(n, detail::WatchState::kNone);
  ws.open.reserve(n - (found.size() - before));
  for (std::uint32_t i = 0, k = static_cast<std::uint32_t>(before); i < n; ++i) {
    if (k < found.size() && found[k] == i) {
      ++k;
      continue;
    }
    ws.where[i] = static_cast<std::uint32_t>(ws.open.size());
    ws.open.push_back(i);
  }
}

void full_look(const Views& v, detail::WatchState& ws, std::vector<std::uint32_t>& found) {
  ws.cursor = shm::completion_count(*ws.ring);
  ws.last_look_ns = shm::now_ns();
  if (!ws.indexed) return first_look(v, ws, found);
  const std::size_t before = found.size();
  for (std::uint32_t i : ws.open)
    if (final_or_throw(v, ws.ids[i])) found.push_back(i);
  if (found.size() - before == ws.open.size()) {  // all of them (a list final already): no swaps
    for (std::uint32_t i : ws.open) ws.where[i] = detail::WatchState::kNone;
    ws.open.clear();
    ws.open_ids.clear();
    return;
  }
  for (std::size_t k = before; k < found.size(); ++k) ws.remove(found[k]);
}

// The entries since the cursor; a full look when the ring cannot say.
void drain(const Views& v, detail::WatchState& ws, std::vector<std::uint32_t>& found) {
  if (ws.vals.empty()) ws.build_table();
  const bool ok =
      shm::read_completions(*ws.ring, v.completion_entries, ws.cursor, [&](std::uint32_t gen, std::uint32_t index) {
        const std::uint32_t i = ws.lookup(index);
        if (i == detail::WatchState::kNone || ws.where[i] == detail::WatchState::kNone || ws.ids[i].gen() != gen)
          return;
        const shm::ObjectSlot* s = v.slot(ws.ids[i]);  // the word, not the entry, says final: a slot is reused
        if (!s) return;
        const shm::ObjectWord w = v.word(*s);
        if (w.gen != gen || !w.final()) return;
        ws.remove(i);
        found.push_back(i);
      });
  if (!ok) full_look(v, ws, found);
}

void start_watch(const Views& v, detail::WatchState& ws, std::vector<std::uint32_t>& found) {
  ws.ring = v.completions;
  ws.generation = detail::runtime_generation();
  ws.marked = false;
  shm::watch_completions(*ws.ring);
  full_look(v, ws, found);
}

// The first sleep: mark every open id kObjWaiters (once: a mark stays until the object is
// final), so that its writer bumps the epoch. Those final meanwhile are found.
void mark_open(const Views& v, detail::WatchState& ws, std::vector<std::uint32_t>& found) {
  ws.marked = true;
  const std::size_t before = found.size();
  for (std::uint32_t i : ws.open) {
    const ObjectId id = ws.ids[i];
    shm::ObjectSlot* s = v.slot(id);
    if (s && !shm::set_object_flag(*s, id.gen(), shm::kObjWaiters) && v.word(*s).final()) found.push_back(i);
  }
  for (std::size_t k = before; k < found.size(); ++k) ws.remove(found[k]);
}

std::size_t done(detail::WatchState& ws, std::vector<std::uint32_t>& found, std::size_t before) {
  const auto from = found.begin() + static_cast<std::ptrdiff_t>(before);
  if (!std::is_sorted(from, found.end())) std::sort(from, found.end());  // a first look's are in order
  ws.last_look_ns = shm::now_ns();
  if (ws.open.empty()) end_watch(ws);
  return found.size() - before;
}

}  // namespace

void end_watch(detail::WatchState& ws) noexcept {
  if (!ws.ring) return;
  shm::unwatch_completions(*ws.ring);
  ws.ring = nullptr;
}

std::size_t collect_completed(const Views& v, detail::WatchState& ws, detail::Deadline until, WaitHelper& helper,
                              std::vector<std::uint32_t>& found) {
  const std::size_t before = found.size();
  if (ws.indexed && ws.open.empty()) return 0;
  if (!ws.ring) {
    start_watch(v, ws, found);
    if (found.size() > before || ws.open.empty()) return done(ws, found, before);
  }
  const std::uint64_t spin_until = shm::now_ns() + kSpinNs;
  for (;;) {
    if (shm::completion_count(*ws.ring) != ws.cursor) drain(v, ws, found);
    if (found.size() > before) return done(ws, found, before);
    if (helper.help()) continue;
    const std::int64_t left = remaining_ns(until);
    if (left == 0) {
      end_watch(ws);
      return 0;
    }
    const std::uint64_t now = shm::now_ns();
    if (now - ws.last_look_ns >= kLookNs) {  // safety net: an object made final some other way
      full_look(v, ws, found);
      continue;
    }
    if (now < spin_until) {
      for (int k = 0; k < 64 && shm::completion_count(*ws.ring) == ws.cursor; ++k) shm::cpu_relax();
      continue;
    }
    std::uint32_t& epoch = v.hot->object_epoch.value;
    const std::uint32_t seen = shm::atom(epoch).load(std::memory_order_seq_cst);
    if (!ws.marked) {
      mark_open(v, ws, found);
      if (found.size() > before) return done(ws, found, before);
    }
    if (shm::completion_count(*ws.ring) != ws.cursor) continue;
    std::int64_t limit = helper.before_sleep();
    limit = limit < 0 ? std::int64_t(kLookNs) : std::min<std::int64_t>(limit, kLookNs);
    if (left >= 0) limit = std::min(limit, left);
    shm::futex_wait(&epoch, seen, std::chrono::nanoseconds(limit));
  }
}

}  // namespace shmray::common
