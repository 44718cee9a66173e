// Lock-free reads of the pool's state for stats() and the dashboard (observe.hpp).
#include "driver/observe.hpp"

#include <algorithm>

#include "shm/atomics.hpp"
#include "shm/words.hpp"

namespace shmray::driver {

namespace {
// The scans read words other processes (and the driver's own threads) write, and re-read
// the state word to drop what changed meanwhile (a seqlock without the lock): a benign race
// by design, kept out of ThreadSanitizer's reports.
#define SHMRAY_RACY_READER __attribute__((no_sanitize("thread")))

SHMRAY_RACY_READER bool read_task(const common::Views& v, std::uint32_t i, TaskView& out) {
  shm::TaskSlot& t = v.tasks[i];
  const std::uint64_t w = shm::load_acquire(t.state);
  const shm::TaskWord tw = shm::TaskWord::unpack(w);
  if (tw.state == shm::TaskState::kFree || tw.state == shm::TaskState::kDone || tw.state == shm::TaskState::kCancelled)
    return false;
  out.function = shm::load_relaxed(t.function);
  out.attempt = shm::load_relaxed(t.attempt);
  if (shm::load_acquire(t.state) != w || out.function == shm::kHoldFunction) return false;
  out.ref = shm::task_ref(i, tw.gen);
  out.state = std::uint8_t(tw.state);
  out.worker = tw.owner ? int(tw.owner) - 1 : -1;
  return true;
}

SHMRAY_RACY_READER bool read_worker(const common::Views& v, std::uint32_t slot, WorkerView& out) {
  shm::WorkerControl& c = v.worker(slot);
  out.slot = slot;
  out.state = shm::load_acquire(c.state);
  out.pid = shm::load_relaxed(c.pid);
  if (out.state == std::uint32_t(shm::WorkerState::kUnused) || out.state == std::uint32_t(shm::WorkerState::kDead) ||
      out.pid <= 0)
    return false;
  out.task_ref = shm::load_relaxed(c.bottom_task);
  out.tasks_run = shm::load_relaxed(c.tasks_run);
  out.actor = slot >= v.geo.pool_slots;
  if (out.task_ref && v.valid_task_ref(out.task_ref)) {
    shm::TaskSlot& t = v.task(out.task_ref);
    const std::uint64_t w = shm::load_acquire(t.state);
    const std::uint32_t fn = shm::load_relaxed(t.function);
    if (shm::TaskWord::unpack(w).gen == shm::task_ref_gen(out.task_ref) && shm::load_acquire(t.state) == w)
      out.function = fn;
  }
  return true;
}

void add_state(StateCounts& s, std::uint8_t state) {
  switch (shm::TaskState(state)) {
    case shm::TaskState::kWaiting: ++s.waiting; break;
    case shm::TaskState::kQueued: ++s.queued; break;
    case shm::TaskState::kClaimed: ++s.running; break;
    default: break;
  }
}
}  // namespace

Observation observe(const common::Views& v, const Counters& c, std::uint64_t outside_table) {
  Observation o;
  o.per_function.resize(c.functions());
  const std::size_t other = c.functions() - 1;
  for (std::uint32_t i = 0; i < v.geo.task_capacity; ++i) {
    TaskView t;
    if (!read_task(v, i, t)) continue;
    add_state(o.total, t.state);
    add_state(o.per_function[std::min<std::size_t>(t.function, other)], t.state);
  }
  o.total.queued += outside_table;
  for (std::size_t f = 0; f < c.functions(); ++f) {
    const FunctionCounters& fc = c.at(f);
    o.per_function[f].finished = fc.finished.load(std::memory_order_relaxed);
    o.per_function[f].failed = fc.failed.load(std::memory_order_relaxed);
    o.per_function[f].cancelled = fc.cancelled.load(std::memory_order_relaxed);
  }
  o.total.finished = c.finished.load(std::memory_order_relaxed);
  o.total.failed = c.failed.load(std::memory_order_relaxed);
  o.total.cancelled = c.cancelled.load(std::memory_order_relaxed);
  o.retries = c.retries.load(std::memory_order_relaxed);
  o.restarts = c.restarts.load(std::memory_order_relaxed);
  observe_workers(v, o.workers);
  for (const WorkerView& w : o.workers) o.pool_workers += !w.actor;
  return o;
}

void observe_workers(const common::Views& v, std::vector<WorkerView>& out) {
  out.clear();
  for (std::uint32_t w = 0; w < v.geo.max_workers; ++w) {
    WorkerView wv;
    if (read_worker(v, w, wv)) out.push_back(wv);
  }
}

std::vector<TaskView> list_tasks(const common::Views& v, std::uint8_t state, std::size_t limit) {
  std::vector<TaskView> out;
  for (std::uint32_t i = 0; i < v.geo.task_capacity && out.size() < limit; ++i) {
    TaskView t;
    if (read_task(v, i, t) && t.state == state) out.push_back(t);
  }
  return out;
}

SHMRAY_RACY_READER StoreView observe_store(const common::Views& v, std::uint32_t hwm, std::size_t largest) {
  StoreView s;
  s.capacity_bytes = v.geo.arena_bytes;
  using Entry = std::pair<std::uint64_t, std::uint64_t>;
  auto smaller = [](const Entry& a, const Entry& b) { return a.second > b.second; };  // min-heap on size
  for (std::uint32_t i = 0; i < std::min(hwm, v.geo.object_capacity); ++i) {
    shm::ObjectSlot& o = v.objects[i];
    const shm::ObjectWord w = shm::ObjectWord::unpack(shm::load_acquire(o.state));
    // Not counted: free slots, and pending ones no task produces (handed to a worker for the
    // results of tasks it may submit; usage() leaves them out too).
    if (w.is(shm::ObjectState::kFree) || (!w.final() && shm::load_relaxed(o.producer) == 0)) continue;
    ++s.objects;
    if (!w.final()) continue;
    const std::uint64_t size = shm::load_relaxed(o.size);
    s.payload_bytes += size;
    const Entry e{detail::ObjectId::make(v.session, w.gen, i).value, size};
    if (s.largest.size() < largest) {
      s.largest.push_back(e);
      std::push_heap(s.largest.begin(), s.largest.end(), smaller);
    } else if (largest && size > s.largest.front().second) {
      std::pop_heap(s.largest.begin(), s.largest.end(), smaller);
      s.largest.back() = e;
      std::push_heap(s.largest.begin(), s.largest.end(), smaller);
    }
  }
  std::sort_heap(s.largest.begin(), s.largest.end(), smaller);
  s.spans = v.spans.spans_in_use();
  s.span_bytes = s.spans * shm::kSpanBytes;
  return s;
}

double latency_quantile(const FunctionCounters& f, double q) {
  std::array<std::uint64_t, kLatencyBuckets> b{};
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < kLatencyBuckets; ++i) total += b[i] = f.buckets[i].load(std::memory_order_relaxed);
  if (total == 0) return 0;
  const double rank = q * double(total);
  double seen = 0;
  for (std::size_t i = 0; i < kLatencyBuckets; ++i) {
    if (b[i] == 0 || seen + double(b[i]) < rank) {
      seen += double(b[i]);
      continue;
    }
    const double lo = i == 0 ? 0 : double(kLatencyBoundsNs[i - 1]);
    const double hi = i < kLatencyBoundsNs.size() ? double(kLatencyBoundsNs[i]) : lo;
    return (lo + (hi - lo) * std::clamp((rank - seen) / double(b[i]), 0.0, 1.0)) / 1e9;
  }
  return double(kLatencyBoundsNs.back()) / 1e9;
}

}  // namespace shmray::driver
