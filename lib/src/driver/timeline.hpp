#pragma once
// The task timeline (Options::timeline): what the workers' timeline rings say (a start and an
// end record per task attempt, shm/timeline_ring.hpp) joined with what the driver knows of the
// task (name, function, arguments, dependencies, result, submission time), the driver's own
// get/wait blocks, and the Chrome trace JSON written from them (timeline_json.cpp).
//
// Bounded: at most kMaxEvents task attempts and as many driver blocks are kept; past that the
// oldest go, counted in the file ("dropped_events"). A worker's full ring drops the new record
// instead ("dropped_records"): a worker never waits for the driver. At most kMaxLabels
// distinct task names and error types are kept (past that a new name shows as its
// function's, and a new error type is left out), and the last kMaxDeps dependencies.
//
// Lock order: Driver::mu_, then Timeline::mu_. Methods named *_locked are called with
// Driver::mu_ held; the others take only Timeline::mu_.
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/views.hpp"
#include "driver/task_table.hpp"
#include "shm/segment.hpp"

namespace shmray::driver {

inline constexpr std::uint32_t kNoFunction = 0xfffffffeu;  ///< TimelineEvent::function when unknown

enum class RunOutcome : std::uint8_t { kOk, kFailed, kRetried, kCrashed, kKilled, kRequeued, kUnfinished };

/// One task attempt: a complete ("X") event on its worker's track. Fixed size, no heap: the
/// driver files one per task, so the name and the error type are indexes into the
/// timeline's labels (each distinct string kept once) and the dependencies sit in a pool of
/// their own, read only when there are any.
struct TimelineEvent {
  std::uint64_t start_ns = 0, end_ns = 0, submit_ns = 0;
  std::uint64_t task_ref = 0;
  std::uint64_t result = 0;  // ObjectId of the result
  std::uint64_t args_bytes = 0, result_bytes = 0;
  std::uint64_t deps_at = 0;  // where its dependencies start in the timeline's pool (deps of them)
  std::int32_t pid = 0;
  std::uint32_t slot = 0;
  std::uint32_t function = 0;
  std::uint32_t attempt = 0;
  std::uint32_t name = 0;   // label: TaskOptions::name (0: none, the function's is shown)
  std::uint32_t error = 0;  // label: kFailed: the thrown type, or the error's kind (0: none)
  std::uint16_t depth = 1;  // 1: the worker's outermost task; more: run inline inside the one below
  std::uint16_t deps = 0;   // ObjectIds of the arguments it waited for, in the pool
  RunOutcome outcome = RunOutcome::kOk;
  bool retried = false;  // kCrashed: the task was queued again
  bool hold = false;     // a CPU hold of a num_cpus > 1 task
};
static_assert(sizeof(TimelineEvent) == 96, "one task's event: keep it small, it is filed per task");

/// A driver thread blocked in get/wait.
struct DriverBlock {
  std::int32_t tid = 0;
  std::uint64_t start_ns = 0, end_ns = 0;
  const char* what = "get";
  std::uint64_t first = 0;  // ObjectId of the first object waited for
  std::uint32_t objects = 0;
};

class Timeline {
 public:
  static constexpr std::size_t kMaxEvents = std::size_t{1} << 18;
  /// Records per worker ring (SegmentParams::timeline_entries) when the timeline is on.
  static constexpr std::uint32_t kRingEntries = 16384;
  static constexpr std::size_t kMaxLabels = std::size_t{1} << 16;
  static constexpr std::size_t kMaxDeps = std::size_t{1} << 18;
  static constexpr std::size_t kMaxSubmits = std::size_t{1} << 16;

  /// `on`: Options::timeline was given (the segment has the rings).
  Timeline(const shm::Segment& seg, const common::Views& v, bool on);
  bool on() const noexcept { return on_; }

  /// Takes the records worker `slot` (process `pid`) published. The tasks they name are still
  /// in the table: the worker writes its end record before its TaskDone.
  void drain_locked(std::uint32_t slot, std::int32_t pid, const TaskTable& tasks);
  /// The worker in `slot` died at `now_ns` (or was just sent SIGKILL for a force cancel): its
  /// open attempts end there. The innermost is kCrashed, those under it kRequeued; all are
  /// kKilled for a force cancel. Call after drain_locked
  /// and before the tasks are recovered; then crashed_locked() with what it returned.
  std::vector<TimelineEvent> end_open_locked(std::uint32_t slot, std::uint64_t now_ns, bool killed,
                                             const TaskTable& tasks);
  /// Files them, marking those whose task was queued again (retried).
  void crashed_locked(std::vector<TimelineEvent> events, const TaskTable& tasks);
  /// The attempts open now, as if they ended at `now_ns` (kUnfinished): a dump mid-run shows
  /// them, and at shutdown they end there.
  std::vector<TimelineEvent> open_now_locked(std::uint64_t now_ns, const TaskTable& tasks);

  /// A get/wait of a driver thread (no Driver::mu_ needed).
  void driver_block(const DriverBlock& b);

  /// Writes the Chrome trace JSON of what is recorded to `path`; false (errno) when it could
  /// not be written. `driver_pid`: the driver's track.
  /// `running`: open_now_locked()'s attempts, written with the rest.
  bool write(const std::string& path, std::int32_t driver_pid, std::uint32_t pool_slots,
             const std::vector<TimelineEvent>& running);

 private:
  struct Open {
    std::uint64_t task_ref = 0;
    std::uint64_t start_ns = 0;
    std::int32_t pid = 0;
    std::uint32_t depth = 1;
  };
  // These three: Timeline::mu_ held.
  TimelineEvent describe(std::uint32_t slot, const Open& o, std::uint64_t end_ns, RunOutcome out,
                         const TaskTable& tasks);
  void add(const TimelineEvent& e);
  std::uint32_t label(std::string_view s);  // its index (0 for "", and when kMaxLabels are kept)
  std::string_view label_at(std::uint32_t i) const noexcept {
    return i < labels_.size() ? std::string_view(labels_[i]) : std::string_view();
  }
  std::uint64_t dep_at(std::uint64_t pos) const noexcept { return deps_[pos % kMaxDeps]; }
  bool deps_kept(const TimelineEvent& e) const noexcept { return e.deps_at + kMaxDeps >= deps_written_; }
  std::string json(std::int32_t driver_pid, std::uint32_t pool_slots, const std::vector<TimelineEvent>& running);

  const shm::Segment& seg_;
  const common::Views& v_;
  const bool on_;
  const std::uint64_t t0_ns_;
  std::vector<std::vector<Open>> open_;      // per worker slot: its stack of running attempts
  std::vector<std::uint64_t> dropped_seen_;  // per worker slot: its ring's `dropped` as last read

  std::mutex mu_;
  // Rings once full (kMaxEvents): the oldest is at first_*, and is overwritten next. (Vectors:
  // a deque of these allocates a node every two events.)
  std::vector<TimelineEvent> events_;
  std::vector<DriverBlock> blocks_;
  std::size_t first_event_ = 0, first_block_ = 0;
  std::uint64_t dropped_events_ = 0;                                 // the oldest, past kMaxEvents
  std::uint64_t dropped_records_ = 0;                                // by workers on a full ring, or unmatched
  std::deque<std::string> labels_{std::string()};                    // [0]: none. A deque: growing moves no string,
  std::unordered_map<std::string_view, std::uint32_t> label_index_;  // so these keys stay valid
  std::vector<std::uint64_t> deps_;                                  // a ring once full (kMaxDeps)
  std::uint64_t deps_written_ = 0;                            // every dependency ever filed: the next one's position
  std::unordered_map<std::uint64_t, std::uint64_t> submits_;  // task_ref -> a worker's kSubmit stamp
};

}  // namespace shmray::driver
