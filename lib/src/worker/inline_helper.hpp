#pragma once
// WorkerRuntime::InlineHelper: what a get or wait inside a task does while its objects are
// not final (common::wait_many calls it).
#include <cstdint>
#include <span>

#include "common/object_wait.hpp"
#include "worker/worker_runtime.hpp"

namespace shmray::worker {

// Waiting inside a task. The rule that keeps nested tasks from deadlocking: a worker that
// waits for an object runs, inline, the task that produces it when that task is still
// queued (or, when it waits for its arguments, the queued tasks those come from). A worker
// thus only ever stacks a task on top of one that waits for it, so the tasks on one stack
// form a chain of the dependency DAG and no stack can hold up a task below it. A chain of
// waits that leaves a stack ends at a task that runs on another worker (which makes
// progress by the same argument, the DAG being finite) or at one not yet published (the
// driver publishes it). Running anything else inline could strand a resumable task under
// an unrelated blocked one; instead a blocked worker reports itself and the driver may
// start an extra worker (at most max_workers in all) so queued work keeps its CPUs.
//
// Only the task thread runs anything inline, and only in a wait without a deadline: a
// producer run inline could not be left at the deadline (get(ref, 100ms) would take as long
// as the producer). A finite wait leaves the producer to other workers (a blocked worker
// may get an extra one) and a wait with timeout 0 is a pure poll. Threads a task started
// wait without helping and without reporting the worker blocked (its task thread may be
// running), but check the cancellation of the task they belong to.
class WorkerRuntime::InlineHelper final : public common::WaitHelper {
 public:
  /// `needed`: how many of the ids must be final before the wait can end (all for get,
  /// num_returns for wait, one for collect_final).
  InlineHelper(WorkerRuntime& rt, std::span<const ObjectId> ids, detail::Deadline until, std::size_t needed);
  ~InlineHelper() noexcept;  // cannot throw: see inline_helper.cpp for what it drops instead
  InlineHelper(const InlineHelper&) = delete;
  InlineHelper& operator=(const InlineHelper&) = delete;

  bool help() override;
  std::int64_t before_sleep() override;

 private:
  bool may_inline() const;

  WorkerRuntime& rt_;
  std::span<const ObjectId> ids_;
  const bool task_thread_, in_task_, finite_;
  const std::size_t needed_;
  const std::uint64_t since_;
  bool counted_ = false;  // in waiting_threads_ (a thread the task started, asleep)
};

}  // namespace shmray::worker
