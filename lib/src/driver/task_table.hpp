#pragma once
// The driver's facts about tasks: one TaskInfo per slot of the shared task table, the free
// slots, which tasks wait for which objects, and the submissions that wait outside the
// table (the backlog: no room yet; infeasible: more CPUs than the runtime has).
//
// Every method is called with Driver::mu_ held.
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <queue>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/views.hpp"
#include "shmray/detail/runtime_api.hpp"
#include "wire/refs.hpp"

namespace shmray::driver {

using detail::ObjectId;

/// Driver-side facts about a task in the table.
struct TaskInfo {
  std::uint32_t gen = 0;
  bool live = false;
  ObjectId result;
  std::vector<ObjectId> pins;  // resolved args and refs passed as refs: held while the task lives
  std::uint32_t missing = 0;   // resolved args not final yet
  std::uint64_t spill = 0;     // arena block holding the descriptor when it did not fit inline
  std::int32_t max_retries = 3;
  bool retry_exceptions = false;
  bool killable = false;      // it has a TaskOptions::timeout (kTaskKillable)
  std::uint32_t cpus = 1;     // worker slots it holds while it runs
  bool hold = false;          // a companion of a num_cpus > 1 task (no result of its own)
  std::uint32_t holds = 0;    // num_cpus > 1: holds made for it (they last until its result is final)
  std::string name;           // options.name, when given
  wire::TaskRef parent;       // the submitting task (none: the driver)
  bool has_children = false;  // it submitted tasks (recursive cancel looks for them)
  ObjectId actor;             // an actor's call or creation: the actor's id (none: a pool task)
  bool actor_creation = false;
  std::uint64_t caller = 0;     // an actor's call: whose queue it is in (0: the driver, else worker slot + 1)
  std::uint64_t submit_ns = 0;  // monotonic; set only with the timeline on
};

/// A submission the table had no room for (or no store space for its args) yet.
struct BacklogTask {
  ObjectId result;
  std::uint32_t function = 0;
  std::string desc;           // descriptor bytes (wire/descriptor.hpp)
  std::uint32_t resolve = 0;  // the first `resolve` of info.pins are the resolved args (watched)
  // Not 0: the descriptor (this many bytes) is written already, in the block info.spill, and
  // desc is empty. Only between a submit and its publish: the backlog holds none (big_args.cpp).
  std::uint32_t prewritten = 0;
  TaskInfo info;
};

class TaskTable {
 public:
  explicit TaskTable(const common::Views& v);

  TaskInfo& operator[](std::uint32_t idx) { return tasks_[idx]; }
  const TaskInfo& operator[](std::uint32_t idx) const { return tasks_[idx]; }
  /// Whether `ref` names the live task now in its slot.
  bool current(wire::TaskRef ref) const;
  /// Results of the live tasks (not holds) that `parent` submitted.
  std::vector<ObjectId> children_of(wire::TaskRef parent) const;

  std::size_t free_slots() const { return free_tasks_.size(); }
  std::uint32_t take_free_slot();  // the caller checked free_slots() first
  void give_back_slot(std::uint32_t idx) { free_tasks_.push_back(idx); }

  /// Task `idx` waits for object `object_index` to be final.
  void add_dependent(std::uint32_t object_index, std::uint32_t idx) { dependents_[object_index].push_back(idx); }
  /// The tasks waiting for object `object_index` (and forgets them).
  std::vector<std::uint32_t> take_dependents(std::uint32_t object_index);
  void forget_object(std::uint32_t object_index) noexcept { dependents_.erase(object_index); }

  bool backlog_empty() const { return backlog_.empty(); }
  BacklogTask& backlog_front() { return backlog_.front(); }
  void pop_backlog_front() { backlog_.pop_front(); }
  void push_backlog(BacklogTask&& t) { backlog_.push_back(std::move(t)); }
  std::optional<BacklogTask> pop_backlog();
  void push_infeasible(BacklogTask&& t) { infeasible_.push_back(std::move(t)); }
  std::deque<BacklogTask> take_infeasible();
  /// Takes the submission of `result` out of the backlog, else out of the infeasible list.
  std::optional<BacklogTask> take_waiting(ObjectId result);
  /// True the first time `key` is seen (one warning per infeasible kind of task).
  bool first_warning(const std::string& key);

  /// The task of `result` times out at `at_ns` (shm::now_ns()'s clock). True when that is now
  /// the earliest deadline: the event thread must shorten its sleep.
  bool add_deadline(std::uint64_t at_ns, ObjectId result);
  /// A result whose deadline is at or before `now_ns`, forgotten here (none when no more). It
  /// may have finished, or be freed: the caller checks.
  std::optional<ObjectId> pop_expired(std::uint64_t now_ns);
  /// The earliest deadline; 0 for none.
  std::uint64_t next_deadline() const { return deadlines_.empty() ? 0 : deadlines_.top().first; }

  /// A timed task past its deadline that could be cancelled only softly (it runs inline above
  /// another task of its worker): if it still runs at `at_ns`, its worker is killed.
  struct Overdue {
    std::uint64_t at_ns;
    std::uint32_t worker, incarnation;
    wire::TaskRef task;
  };
  void add_overdue(const Overdue& o) { overdue_.push_back(o); }
  /// The entries due at `now_ns`, forgotten here.
  std::vector<Overdue> take_overdue(std::uint64_t now_ns);
  /// The earliest entry's time; 0 for none.
  std::uint64_t next_overdue() const;

 private:
  const common::Views& v_;
  std::vector<TaskInfo> tasks_;
  std::vector<std::uint32_t> free_tasks_;
  std::unordered_map<std::uint32_t, std::vector<std::uint32_t>> dependents_;  // object index -> task slots
  std::deque<BacklogTask> backlog_;
  std::vector<BacklogTask> infeasible_;  // num_cpus above the runtime's: pending for good (as in Ray)
  std::vector<std::string> warned_;
  // (deadline, result id): a min-heap. A finished task's entry stays until its deadline, or
  // until add_deadline prunes finished ones (the heap never outgrows twice the pending count).
  using Deadline = std::pair<std::uint64_t, std::uint64_t>;
  std::priority_queue<Deadline, std::vector<Deadline>, std::greater<>> deadlines_;
  std::size_t prune_at_ = 1024;
  std::vector<Overdue> overdue_;  // few: one per timed task running inline past its deadline
};

}  // namespace shmray::driver
