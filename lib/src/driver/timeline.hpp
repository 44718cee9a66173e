#pragma once
// The task timeline (Options::timeline): what the workers' timeline rings say (a start and an
// end record per task attempt, shm/timeline_ring.hpp) joined with what the driver knows of the
// task (name, function, arguments, dependencies, result, submission time), the driver's own
// get/wait blocks, and the Chrome trace JSON written from them (timeline_json.cpp).
//
// Bounded: at most kMaxEvents task attempts and as many driver blocks are kept; past that the
// oldest go, counted in the file ("dropped_events"). A worker's full ring drops the new record
// instead ("dropped_records"): a worker never waits for the driver.
//
// Lock order: Driver::mu_, then Timeline::mu_. Methods named *_locked are called with
// Driver::mu_ held; the others take only Timeline::mu_.
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "common/views.hpp"
#include "driver/task_table.hpp"
#include "shm/segment.hpp"

namespace shmray::driver {

inline constexpr std::uint32_t kNoFunction = 0xfffffffeu;  ///< TimelineEvent::function when unknown

enum class RunOutcome : std::uint8_t { kOk, kFailed, kRetried, kCrashed, kKilled, kRequeued, kUnfinished };

/// One task attempt: a complete ("X") event on its worker's track.
struct TimelineEvent {
  std::int32_t pid = 0;
  std::uint32_t slot = 0;
  std::uint32_t depth = 1;  // 1: the worker's outermost task; more: run inline inside the one below
  std::uint64_t start_ns = 0, end_ns = 0, submit_ns = 0;
  std::uint64_t task_ref = 0;
  std::uint64_t result = 0;  // ObjectId of the result
  std::uint32_t function = 0;
  std::uint32_t attempt = 0;
  RunOutcome outcome = RunOutcome::kOk;
  bool retried = false;    // kCrashed: the task was queued again
  bool hold = false;       // a CPU hold of a num_cpus > 1 task
  std::string name;        // TaskOptions::name (empty: the function's)
  std::string error_type;  // kFailed: the thrown type, or the error's kind
  std::uint64_t args_bytes = 0, result_bytes = 0;
  std::vector<std::uint64_t> deps;  // ObjectIds of the arguments it waited for
};

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
  static constexpr std::uint32_t kRingEntries = 1024;

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
  std::vector<TimelineEvent> open_now_locked(std::uint64_t now_ns, const TaskTable& tasks) const;

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
  TimelineEvent describe(std::uint32_t slot, const Open& o, std::uint64_t end_ns, RunOutcome out,
                         const TaskTable& tasks) const;
  void add(TimelineEvent&& e);  // Timeline::mu_ held
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
  std::uint64_t dropped_events_ = 0;   // the oldest, past kMaxEvents
  std::uint64_t dropped_records_ = 0;  // by workers on a full ring, or unmatched
};

}  // namespace shmray::driver
