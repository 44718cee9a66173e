#pragma once
// The runtime inside a worker process: the claim loop, running a task (arguments read in
// place, result written into the store), and the API calls a task makes (get, wait, put,
// cancelled). References it takes and drops are reported to the driver on its event ring.
#include <atomic>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "common/object_wait.hpp"
#include "common/views.hpp"
#include "shm/heap.hpp"
#include "shm/message_ring.hpp"
#include "shm/ring.hpp"
#include "shm/segment.hpp"
#include "shm/timeline_ring.hpp"
#include "shmray/detail/runtime_api.hpp"
#include "wire/messages.hpp"

namespace shmray::worker {

using detail::ObjectId;

/// pthread_atfork child handler of worker processes: marks a child that a task forked.
void note_fork_in_task() noexcept;

class WorkerRuntime final : public detail::RuntimeApi {
 public:
  WorkerRuntime(const shm::Segment& seg, std::uint32_t slot);

  /// Claims and runs tasks until the process is killed.
  [[noreturn]] void run();

  ObjectId submit(const detail::SubmitRequest& req) override;
  ObjectId put(const detail::ValueSource& value) override;
  std::span<const std::byte> fetch(ObjectId id, detail::Deadline until) override;
  std::size_t wait(std::span<const ObjectId> ids, std::size_t num_returns, detail::Deadline until,
                   std::vector<char>& ready) override;
  std::size_t wait_all_or_failure(std::span<const ObjectId> ids, detail::Deadline until) override;
  std::size_t collect_final(std::span<const ObjectId> ids, detail::Deadline until,
                            std::vector<std::uint32_t>& final) override;
  std::size_t collect_completed(detail::WatchState& watch, detail::Deadline until,
                                std::vector<std::uint32_t>& found) override;
  void add_ref(ObjectId id) override;
  void release(ObjectId id) noexcept override;
  void cancel(ObjectId id, const CancelOptions& options) override;
  bool cancelled() override;
  std::uint64_t allocate_block(std::size_t bytes, void** at) override;
  void free_block(std::uint64_t offset) noexcept override;
  ObjectId put_block(const detail::ValueBlock& block) override;
  ObjectId create_actor(const detail::SubmitRequest& req, const ActorOptions& options) override;
  ObjectId submit_method(ObjectId actor, const detail::SubmitRequest& req) override;
  ObjectId get_actor(std::string_view name, std::string_view class_type) override;
  void kill_actor(ObjectId actor, bool no_restart) override;

 private:
  class Call;
  class InlineHelper;
  struct Running {
    std::uint64_t task_ref = 0;
    ObjectId result;
    bool no_inline = false;  // kTaskNoInline: this run leaves its children to other workers
  };

  /// A task written into supplied slots, not published yet (its state word is the caller's).
  struct Written {
    std::uint64_t ref = 0;
    ObjectId result;
    std::uint64_t parent = 0;
  };
  Written write_task(const detail::SubmitRequest& req, const std::string& function, std::uint32_t cpus, bool actor);
  /// Posts a task message: `header`, then the resolved and contained ids, then `texts`.
  void post_task(wire::MsgType type, std::span<const std::byte> header, const detail::SubmitRequest& req,
                 std::span<const std::string_view> texts);

  // actor_loop.cpp: the loop of an actor's process (a slot past the pool's)
  [[noreturn]] void run_actor();
  std::optional<std::uint64_t> claim_actor_task(std::uint64_t entry);
  void idle_actor();
  [[noreturn]] void stop_actor();
  void keep_actor(void* self, void (*destroy)(void*));

  std::uint64_t next_task();
  void run_task(std::uint64_t task_ref);
  void run_task_recorded(std::uint64_t task_ref);
  // Records for the timeline; the ring full, first timeline_room().
  void record(std::uint64_t task_ref, std::uint64_t ns, shm::TimelineKind kind, std::uint32_t aux) noexcept;
  void timeline_room() noexcept;       // run_task with the timeline on: its records around the run
  bool run_claimed(const Running& r);  // a hold, or the function and its error; true: failed
  Running enter_task(std::uint64_t task_ref);
  void leave_task();
  bool run_function(const Running& r, std::string& error);
  void run_hold(const Running& r);
  /// num_cpus = k > 1: waits until its k - 1 holds are claimed; false when cancelled first.
  bool wait_for_holds(const Running& r);
  bool publish_result(const Running& r, const detail::ValueSource& value);
  bool publish_block(const Running& r, std::uint64_t offset, std::size_t size);
  ObjectId publish_put(std::uint64_t offset, std::size_t size, const detail::ValueSource* inline_value,
                       std::span<const ObjectId> contained);
  void publish_error(const Running& r, const std::string& payload);
  void finish(const Running& r, bool failed);
  void post(wire::MsgType type, std::span<const std::byte> a, std::span<const std::byte> b = {});
  /// post of a message made of `parts` in order, copied straight into the ring.
  void post_parts(wire::MsgType type, std::span<const std::span<const std::byte>> parts);
  /// post of an empty message that never throws: false when it was not sent (in a process
  /// a task forked, or a lock failed).
  bool try_post(wire::MsgType type) noexcept;
  /// Posts the buffered releases; true when one of them frees an object holding arena memory
  /// (so the driver, asleep, should be rung). Notes in done_may_free_ those that the task's
  /// TaskDone may free.
  bool flush_releases_locked();
  /// True when the driver frees arena memory as it takes this task's TaskDone: a resolved
  /// argument that its pin alone keeps.
  bool pins_free_memory(const Running& r) const;
  /// The count of an object that holds arena memory; UINT32_MAX for any other id.
  std::uint32_t memory_refs(ObjectId id) const;
  std::byte* reserve_waiting_locked(wire::MsgType type, std::size_t size, std::uint16_t flags);
  void drain_control();
  bool drain_control_locked();
  void ring_doorbell() noexcept;
  std::uint64_t allocate_block_waiting(std::size_t bytes);
  /// A slot the driver supplied (`tasks`: a task slot, else an object slot); waits up to
  /// store_full_timeout, then TaskTableFullError / ObjectStoreFullError.
  std::uint32_t take_supply(std::vector<std::uint32_t>& from, bool tasks);
  void take_submit_slots(std::size_t desc_size, const detail::ValueSource* args, std::uint64_t& spill,
                         std::uint32_t& obj, std::uint32_t& idx);
  /// `killable_too`: a queued kTaskKillable producer may run inline too (the wait outlasted
  /// kInlineGraceNs: no other worker took it).
  bool try_run_producer(ObjectId id, int depth, bool killable_too);
  /// Throws when an actor's method would wait for ever for a call to its own actor.
  void refuse_wait_on_self(std::span<const ObjectId> ids, std::size_t needed) const;
  bool run_own_child();
  void set_blocked(bool blocked) noexcept;
  void thread_waits(bool waits) noexcept;
  void report_blocked() noexcept;
  void leave_bottom_task();
  std::uint64_t own_task() const noexcept;
  bool task_cancelled(const Running& r) const { return task_cancelled(r.task_ref); }
  bool task_cancelled(std::uint64_t task_ref) const;
  void leave_if_forked() const;
  void throw_if_cancelled();

  common::Views v_;
  shm::WorkerControl& ctl_;
  const std::uint32_t slot_;
  const std::uint16_t task_owner_;  // slot + 1 in task words

  // Threads. The task thread (the one that called run()) runs tasks, and only it ever
  // runs one inline: stack_, own_children_, walk_seen_, contained_,
  // result_flags_ and trimmed_ are its own. Threads a task starts may call the API (submit, get, wait,
  // put, cancelled): they never run anything inline, and they belong to bottom_, the
  // outermost task the worker runs at the moment of each call (so threads of a pool that
  // outlives one task, OpenMP's say, belong to the next one). What both use is under mu_.
  std::mutex mu_;                         // event writer, heap, release buffer, slot supplies
  std::atomic<std::uint64_t> bottom_{0};  // stack_.front().task_ref, 0 when idle (read by other threads)
  shm::Heap heap_;
  shm::MessageWriter events_;
  shm::SpscConsumer<std::uint64_t> control_;
  shm::TimelineWriter timeline_;   // on() only with Options::timeline: then a start and an end record per task run
  bool timeline_gave_up_ = false;  // timeline_room() timed out: drop records until the ring is half empty
  std::vector<std::uint64_t> releases_;  // held back only while a result's refs are unregistered
  // The stack depth of the task whose result holds refs the driver has not registered yet
  // (from publish_result to its TaskDone); 0: none. Releases wait in releases_ meanwhile.
  std::size_t publishing_depth_ = 0;
  // A release of this task left an object holding memory with two refs: ours was one, the
  // other may be the task's pin, which its TaskDone drops (finish() rings the driver then).
  bool done_may_free_ = false;
  std::uint32_t result_flags_ = 0;                          // flags of the last published result
  std::vector<ObjectId> contained_;                         // refs inside the last published result
  std::vector<Running> stack_;                              // tasks this process runs (nested by inline execution)
  std::vector<std::string_view> labels_;                    // their names for log lines (shm/task_label.hpp)
  std::vector<std::uint32_t> object_supply_, task_supply_;  // slots the driver handed us
  std::vector<std::uint64_t> own_children_;      // tasks we submitted, oldest first (run inline while waiting)
  std::unordered_set<std::uint64_t> walk_seen_;  // waiting tasks one inline walk looked under (try_run_producer)
  bool task_blocked_ = false;      // the task thread sleeps in get/wait (written by it, under blocked_mu_)
  std::mutex blocked_mu_;          // the blocked report: taken before mu_, never after
  int waiting_threads_ = 0;        // threads of the task asleep in get/wait (blocked_mu_)
  bool blocked_reported_ = false;  // what the driver was told (blocked_mu_)
  bool trimmed_ = true;            // no task ran since the last malloc_trim

  // An actor's process (slot_ >= the pool's slots): its object, and the tasks the driver sent.
  const bool is_actor_;
  void* actor_self_ = nullptr;
  void (*actor_destroy_)(void*) = nullptr;
  std::deque<std::uint64_t> actor_runs_;  // kControlRun entries, in the order they came
  bool actor_stop_ = false;               // kControlStop came: stop once actor_runs_ is empty
};

}  // namespace shmray::worker
