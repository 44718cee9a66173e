// The task timeline's records: draining the workers' rings, joining each attempt with what
// the driver knows of its task, crashes, and the driver's blocks (timeline.hpp).
#include "driver/timeline.hpp"

#include <algorithm>

#include "shm/futex.hpp"
#include "shm/timeline_ring.hpp"
#include "shm/words.hpp"
#include "wire/descriptor.hpp"
#include "wire/error_record.hpp"

namespace shmray::driver {

namespace {
const char* kind_name(wire::ErrorKind k) {
  switch (k) {
    case wire::ErrorKind::kTaskError: return "TaskError";
    case wire::ErrorKind::kCancelled: return "TaskCancelledError";
    case wire::ErrorKind::kWorkerCrashed: return "WorkerCrashedError";
    case wire::ErrorKind::kStoreFull: return "ObjectStoreFullError";
    case wire::ErrorKind::kSerialization: return "SerializationError";
    case wire::ErrorKind::kPool: return "PoolError";
    case wire::ErrorKind::kTaskTableFull: return "TaskTableFullError";
    case wire::ErrorKind::kActorDied: return "ActorDiedError";
    case wire::ErrorKind::kActorNotFound: return "ActorNotFoundError";
    case wire::ErrorKind::kTimeout: return "TaskTimeoutError";
  }
  return "Error";
}
}  // namespace

Timeline::Timeline(const shm::Segment& seg, const common::Views& v, bool on)
    : seg_(seg), v_(v), on_(on && seg.timeline_ring(0) != nullptr), t0_ns_(shm::now_ns()) {
  if (!on_) return;
  open_.resize(v.geo.max_workers);
  dropped_seen_.resize(v.geo.max_workers);
  // Address space only until used (the pages are touched as events come): no growth moves the
  // events of a long run around on the driver's hot path.
  events_.reserve(kMaxEvents);
  blocks_.reserve(kMaxEvents);
  deps_.reserve(kMaxDeps);
}

void Timeline::drain_locked(std::uint32_t slot, std::int32_t pid, const TaskTable& tasks) {
  shm::TimelineRing* ring = seg_.timeline_ring(slot);
  if (!on_ || !ring || slot >= open_.size() || !shm::timeline_pending(*ring)) return;
  std::vector<Open>& open = open_[slot];
  if (open.capacity() - open.size() < v_.geo.timeline_entries && open.size() < 4096)
    open.reserve(std::min<std::size_t>(4096, open.size() + v_.geo.timeline_entries));  // room for a ring of starts
  std::lock_guard lock(mu_);
  std::uint64_t unmatched = 0;
  const std::uint64_t lost = shm::drain_timeline(*ring, v_.geo.timeline_entries, [&](const shm::TimelineRecord& r) {
    if (r.kind == std::uint32_t(shm::TimelineKind::kStart)) {
      if (open.size() >= 4096 || open.size() == open.capacity()) {  // growing may throw: not in here
        ++unmatched;
        return;
      }
      open.push_back({r.task_ref, r.ns, pid, std::max<std::uint32_t>(r.aux, 1)});
      return;
    }
    if (r.kind == std::uint32_t(shm::TimelineKind::kSubmit)) {
      // Kept until its task's slice is filed; bounded (tasks never run leave theirs behind).
      if (submits_.size() >= kMaxSubmits) submits_.clear();
      try {
        submits_.emplace(r.task_ref, r.ns);
      } catch (...) {
        ++unmatched;
      }
      return;
    }
    if (r.kind != std::uint32_t(shm::TimelineKind::kEnd)) return ++unmatched, void();
    // The innermost attempt of this task; records lost on a full ring leave others above it.
    auto it = std::find_if(open.rbegin(), open.rend(), [&](const Open& o) { return o.task_ref == r.task_ref; });
    if (it == open.rend()) return ++unmatched, void();
    const Open o = *it;
    unmatched += static_cast<std::uint64_t>(it - open.rbegin());
    open.erase(std::prev(it.base()), open.end());
    const RunOutcome out = r.aux == std::uint32_t(shm::TimelineOutcome::kRetried)  ? RunOutcome::kRetried
                           : r.aux == std::uint32_t(shm::TimelineOutcome::kFailed) ? RunOutcome::kFailed
                                                                                   : RunOutcome::kOk;
    try {  // drain_timeline is noexcept: out of memory loses this event, not the driver
      add(describe(slot, o, r.ns, out, tasks));
    } catch (...) {
      ++unmatched;
    }
  });
  const std::uint64_t dropped = shm::load_relaxed(ring->dropped);
  dropped_records_ += lost + unmatched;
  // The worker's count only grows (the driver never writes it); a count that went down was
  // scribbled over: it starts again from there.
  std::uint64_t& seen = dropped_seen_[slot];
  if (dropped > seen) dropped_records_ += dropped - seen;
  seen = dropped;
}

std::uint32_t Timeline::label(std::string_view s) {
  if (s.empty()) return 0;
  if (auto it = label_index_.find(s); it != label_index_.end()) return it->second;
  if (labels_.size() >= kMaxLabels) return 0;
  const auto i = static_cast<std::uint32_t>(labels_.size());
  labels_.emplace_back(s);
  try {
    label_index_.emplace(labels_.back(), i);
  } catch (...) {
    labels_.pop_back();
    throw;
  }
  return i;
}

TimelineEvent Timeline::describe(std::uint32_t slot, const Open& o, std::uint64_t end_ns, RunOutcome out,
                                 const TaskTable& tasks) {
  TimelineEvent e;
  e.pid = o.pid;
  e.slot = slot;
  e.depth = static_cast<std::uint16_t>(std::min<std::uint32_t>(o.depth, 0xffff));
  e.start_ns = o.start_ns;
  e.end_ns = std::max(end_ns, o.start_ns);
  e.outcome = out;
  e.task_ref = o.task_ref;
  e.function = kNoFunction;
  if (!v_.valid_task_ref(o.task_ref)) return e;
  // The slot still holds the task (the driver recycles it on the TaskDone that follows this
  // record); a worker wrote it, so everything read from it is checked or only a label.
  const std::uint32_t idx = shm::task_ref_index(o.task_ref);
  const shm::TaskSlot& ts = v_.tasks[idx];
  if (shm::TaskWord::unpack(shm::load_acquire(ts.state)).gen != shm::task_ref_gen(o.task_ref)) return e;
  e.function = ts.function;
  e.hold = ts.function == shm::kHoldFunction;
  e.attempt = ts.attempt;
  e.result = ts.result;
  if (const auto d = wire::parse_descriptor(v_.descriptor(ts))) {
    e.name = label(d->name.substr(0, 256));
    e.args_bytes = d->args.size();
    e.deps_at = deps_written_;
    e.deps = static_cast<std::uint16_t>(std::min<std::uint32_t>(d->resolve, 256));
    for (std::uint32_t i = 0; i < e.deps; ++i, ++deps_written_) {
      if (deps_.size() < kMaxDeps)
        deps_.push_back(d->resolve_id(i).value);  // reserved: no allocation
      else
        deps_[deps_written_ % kMaxDeps] = d->resolve_id(i).value;  // full: over the oldest
    }
  }
  const TaskInfo& info = tasks[idx];
  if (info.live && info.gen == shm::task_ref_gen(o.task_ref)) e.submit_ns = info.submit_ns;
  // Its submitter's own stamp (only a task submitted inside a task has one: no hash lookup
  // per task for a driver-only program).
  if (auto it = submits_.empty() ? submits_.end() : submits_.find(o.task_ref); it != submits_.end()) {
    if (!e.submit_ns || it->second < e.submit_ns) e.submit_ns = it->second;
    if (out != RunOutcome::kUnfinished && out != RunOutcome::kRetried) submits_.erase(it);  // its last slice
  }
  if (e.hold) return e;
  const shm::ObjectSlot* res = v_.slot(ObjectId{e.result});
  if (!res) return e;
  const shm::ObjectWord w = v_.word(*res);
  std::span<const std::byte> bytes;
  if (w.gen != ObjectId{e.result}.gen() || !w.final() || !v_.payload(*res, bytes)) return e;
  if (w.is(shm::ObjectState::kReady)) {
    e.result_bytes = bytes.size();
  } else if (out == RunOutcome::kFailed) {
    try {
      const wire::ErrorRecord r = wire::decode_error(bytes);
      e.error = label(r.kind == wire::ErrorKind::kTaskError && !r.type_name.empty() ? std::string_view(r.type_name)
                                                                                    : kind_name(r.kind));
    } catch (...) {
      e.error = label("unreadable error record");
    }
  }
  return e;
}

std::vector<TimelineEvent> Timeline::end_open_locked(std::uint32_t slot, std::uint64_t now_ns, bool killed,
                                                     const TaskTable& tasks) {
  std::vector<TimelineEvent> out;
  if (!on_ || slot >= open_.size()) return out;
  std::vector<Open>& open = open_[slot];
  std::lock_guard lock(mu_);
  for (std::size_t i = 0; i < open.size(); ++i) {
    const bool top = i + 1 == open.size();
    const RunOutcome o = killed ? RunOutcome::kKilled : top ? RunOutcome::kCrashed : RunOutcome::kRequeued;
    out.push_back(describe(slot, open[i], now_ns, o, tasks));
    out.back().error = top && !killed ? label("WorkerCrashedError") : 0;
  }
  open.clear();
  return out;
}

void Timeline::crashed_locked(std::vector<TimelineEvent> events, const TaskTable& tasks) {
  for (TimelineEvent& e : events) {  // queued again: its slot still holds it (recovery keeps the generation)
    if (!v_.valid_task_ref(e.task_ref)) continue;
    const TaskInfo& info = tasks[shm::task_ref_index(e.task_ref)];
    e.retried = info.live && info.gen == shm::task_ref_gen(e.task_ref);
  }
  std::lock_guard lock(mu_);
  for (const TimelineEvent& e : events) add(e);
}

std::vector<TimelineEvent> Timeline::open_now_locked(std::uint64_t now_ns, const TaskTable& tasks) {
  std::vector<TimelineEvent> out;
  std::lock_guard lock(mu_);
  for (std::uint32_t s = 0; s < open_.size(); ++s)
    for (const Open& o : open_[s]) out.push_back(describe(s, o, now_ns, RunOutcome::kUnfinished, tasks));
  return out;
}

void Timeline::driver_block(const DriverBlock& b) {
  if (!on_) return;
  std::lock_guard lock(mu_);
  if (blocks_.size() < kMaxEvents) {
    blocks_.push_back(b);
    return;
  }
  blocks_[first_block_] = b;  // full: the oldest goes
  first_block_ = (first_block_ + 1) % kMaxEvents;
  ++dropped_events_;
}

void Timeline::add(const TimelineEvent& e) {
  if (events_.size() < kMaxEvents) {
    events_.push_back(e);
    return;
  }
  events_[first_event_] = e;  // full: the oldest goes
  first_event_ = (first_event_ + 1) % kMaxEvents;
  ++dropped_events_;
}

}  // namespace shmray::driver
