#pragma once
// The driver runtime: the facade that owns the segment, implements detail::RuntimeApi and
// holds the one lock (mu_) under which its three parts are used. Each part owns its state:
//   object_table.{hpp,cpp}  ObjectTable: free object slots, reference counts, contained
//                           refs, payload writes, the driver's heap (and heap_mu_)
//   task_table.{hpp,cpp}    TaskTable: TaskInfo per task slot, free slots, dependents,
//                           backlog, infeasible submissions
//   worker_pool.{hpp,cpp}   WorkerPool: worker ends, the fork server, exit reports,
//   worker_slots.cpp        restarts, extra workers, broken_
// Methods of the parts named *_locked are called with Driver::mu_ held. Flows that cross
// parts are Driver's, as short compositions:
//   driver.cpp        start/stop, fetch and wait
//   scheduler.cpp     submit, dependencies, dispatch, completion, backlog
//   object_store.cpp  put, references, freeing (objects and blocks), usage
//   events.cpp        draining worker event rings; supply; extra workers; the event thread
//   exits.cpp         starting the pool, worker deaths, fork-server deaths, a broken pool
//   cancel.cpp        cancelling, one handler per task state; force kills
//   actors.cpp        actors (actor_table.{hpp,cpp}: ActorTable): creation, calls in each
//                     caller's order, lookup, kill; actor_exits.cpp: deaths, restarts,
//                     stopping; actor_events.cpp: the actor requests of workers
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/object_wait.hpp"
#include "common/views.hpp"
#include "driver/actor_table.hpp"
#include "driver/counters.hpp"
#include "driver/dashboard.hpp"
#include "driver/object_table.hpp"
#include "driver/task_table.hpp"
#include "driver/timeline.hpp"
#include "driver/warn.hpp"
#include "driver/worker_pool.hpp"
#include "shm/message_ring.hpp"
#include "shm/segment.hpp"
#include "shmray/detail/runtime_api.hpp"
#include "shmray/options.hpp"
#include "shmray/stats.hpp"
#include "wire/error_record.hpp"
#include "wire/messages.hpp"

namespace shmray::driver {

using detail::ObjectId;

struct Usage {
  std::size_t objects = 0;       // live objects, not counting slots handed to workers
  std::size_t object_bytes = 0;  // arena blocks of their payloads
  std::size_t spans = 0;         // spans some process owns
};

class Driver final : public detail::RuntimeApi {
 public:
  /// Maps the segment, starts the fork server and the workers, then the event thread.
  static std::unique_ptr<Driver> start(const Options& options, std::uint32_t session);
  ~Driver() override;

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
  bool cancelled() override { return false; }
  std::uint64_t allocate_block(std::size_t bytes, void** at) override;
  void free_block(std::uint64_t offset) noexcept override;
  ObjectId put_block(const detail::ValueBlock& block) override;
  ObjectId create_actor(const detail::SubmitRequest& req, const ActorOptions& options) override;
  ObjectId submit_method(ObjectId actor, const detail::SubmitRequest& req) override;
  ObjectId get_actor(std::string_view name, std::string_view class_type) override;
  void kill_actor(ObjectId actor, bool no_restart) override;

  std::uint64_t store_bytes() const { return v_.geo.arena_bytes; }
  /// shutdown() begins: calls in flight and new ones throw NotInitializedError; wakes every
  /// waiter (object and store-space epochs). Idempotent.
  void close_calls() noexcept;
  /// In a child forked from this process (atfork handler): closes what the child inherited
  /// without telling anyone; the object itself is never destroyed there.
  void forget_after_fork() noexcept;
  /// What the store holds (tests and benchmarks).
  Usage usage();
  /// stats(): the counters and a lock-free scan (observe.hpp), the store's usage().
  Stats stats();
  /// The dashboard's URL; empty when none runs.
  std::string dashboard_url() const { return dashboard_ ? dashboard_->url() : std::string(); }
  /// Whether the dashboard listens on an address other machines can reach.
  bool dashboard_exposed() const { return dashboard_ && dashboard_->exposed(); }
  /// shmray::timeline(path): writes what the timeline recorded so far (timeline_hooks.cpp).
  /// Throws Error when the file cannot be written.
  void write_timeline(const std::string& path);
  /// A driver thread's get/wait that started at `start_ns` (monotonic) ends now (the timeline's).
  void note_block(const char* what, std::span<const ObjectId> ids, std::uint64_t start_ns) noexcept;

 private:
  Driver(const Options& options, shm::Segment seg);
  class Helper;
  void throw_if_closing() const;  // driver.cpp: NotInitializedError once close_calls() ran

  // scheduler.cpp
  /// A submission's checks and descriptor (no lock): throws for what it cannot take.
  /// With `into_block`, arguments given by args_source go straight into an arena block when
  /// the store has room now (BacklogTask::prewritten); without, or without room, into desc.
  BacklogTask prepare_submission(const detail::SubmitRequest& req, const std::string& function, std::uint32_t cpus,
                                 bool into_block = false);
  /// Its result object (with the producer pin) and its pins.
  void pin_submission_locked(BacklogTask& t, const detail::SubmitRequest& req);
  /// Into the table when it has room (and nothing waits before it), else the backlog.
  void enqueue_locked(BacklogTask&& t);
  // big_args.cpp
  /// Writes the descriptor of `req` (arguments from args_source) into `t`: a block of the
  /// arena when `into_block` and there is room now, else desc. No lock held.
  void place_args(BacklogTask& t, const detail::SubmitRequest& req, std::size_t desc_size, bool into_block);
  /// A prewritten task that is not published now: its descriptor moves into desc and the
  /// block goes back, so the backlog and the infeasible list never hold a block.
  void unplace_args_locked(BacklogTask& t);
  /// Gives back the block of a prewritten task that failed before its publish.
  void drop_placed_args_locked(BacklogTask& t) noexcept;
  void publish_locked(BacklogTask&& t);
  bool try_publish_locked(BacklogTask& t);
  void queue_task_locked(std::uint32_t idx);
  void push_holds_locked(std::uint32_t idx, std::uint32_t gen, std::uint32_t new_holds);
  void push_hold_locked(ObjectId result, std::uint64_t parent);
  void push_dispatch_locked(std::uint64_t task_ref);
  void complete_task_locked(std::uint32_t slot_of_worker, const wire::TaskDone& done, std::vector<ObjectId>& contained);
  void finish_task_locked(std::uint32_t idx);
  void fail_task_locked(std::uint32_t idx, std::span<const std::byte> error_payload);
  /// Counts a task that leaves the driver by how its result ended (counters.hpp).
  void count_outcome_locked(ObjectId result, std::uint32_t function, std::uint64_t submit_ns) noexcept;
  void on_final_locked(ObjectId obj);
  /// `resolve`: ids already checked live (it indexes the object table with them). It may be
  /// the task's own pins: it reads them all before anything can fail the task.
  bool watch_deps_locked(std::uint32_t idx, std::span<const ObjectId> resolve);
  /// `actor`: an actor's call (or, with `creation`, its creation), for that actor only.
  // Was this task slot and its result handed to worker w (supply_locked) and not yet used?
  bool supplied_locked(std::uint32_t w, const wire::SubmitHeader& h) const;
  bool adopt_worker_task_locked(std::uint32_t w, const wire::SubmitHeader& h, std::span<const ObjectId> resolve,
                                std::span<const ObjectId> contained, std::string name, ObjectId actor = {},
                                bool creation = false);
  std::size_t driver_task_reserve() const { return v_.task_capacity / 8; }
  void drain_backlog_locked();
  void wake_worker() noexcept;

  // object_store.cpp
  void release_locked(ObjectId id) noexcept;
  void free_object_locked(std::uint32_t index) noexcept;
  void free_block_locked(std::uint64_t offset) noexcept;
  std::uint64_t allocate_block_waiting(std::size_t bytes);  // throws ObjectStoreFullError
  /// Whether an id worker `w` reported names a live object (ObjectTable::accept_worker_ref_locked).
  bool accept_worker_ref_locked(std::uint32_t w, ObjectId id);
  /// Object `container` now holds `refs` (those worker `w` reported that name live objects).
  void add_contained_locked(std::uint32_t w, ObjectId container, std::span<const ObjectId> refs);

  // cancel.cpp
  /// `kind`: kCancelled, or kTimeout for a task at its TaskOptions::timeout (its children, when
  /// recursive, are cancelled plainly).
  void cancel_locked(ObjectId id, bool force, bool recursive, wire::ErrorKind kind = wire::ErrorKind::kCancelled);
  void cancel_children_locked(wire::TaskRef ref, bool force);
  void cancel_in_table_locked(ObjectId id, std::uint32_t idx, bool force, wire::ErrorKind kind);
  bool cancel_queued_locked(std::uint32_t idx, std::uint64_t& w, std::span<const std::byte> payload);
  bool cancel_claimed_locked(ObjectId id, std::uint32_t idx, std::uint64_t& w, std::span<const std::byte> payload,
                             bool force, bool timeout);
  /// SIGKILLs worker `worker` only while `ref` is its outermost task (handshake: cancel.cpp);
  /// false when it did not.
  bool force_kill_locked(std::uint32_t worker, wire::TaskRef ref);
  /// Kills the workers of timed tasks that still run inline kOverdueGrace past their deadline.
  void kill_overdue_locked(std::uint64_t now_ns);
  /// Fails a submission that waited outside the table (backlog, infeasible) with `payload`.
  void fail_waiting_locked(BacklogTask&& t, const std::string& payload);
  std::string cancelled_payload(ObjectId id, std::uint32_t function, const std::string& name,
                                wire::ErrorKind kind = wire::ErrorKind::kCancelled) const;
  /// Force-cancels every task past its TaskOptions::timeout; returns how long the event thread
  /// may sleep before the next deadline (at most `longest`).
  std::chrono::nanoseconds expire_deadlines_locked(std::chrono::nanoseconds longest);
  /// After a submission with a timeout: files its deadline, waking the event thread when it
  /// is now the earliest.
  void add_deadline_locked(std::uint64_t at_ns, ObjectId result);

  // actors.cpp
  std::string actor_died_payload(const ActorInfo& a) const;
  std::string gone_payload(ObjectId actor) const;  // for an actor not in the table
  /// Waits (10 s at most) while no actor slot is free but some actor is ending.
  void wait_for_actor_slot(std::unique_lock<std::mutex>& lock);
  /// A free actor slot, after checking `name` is free; throws when either is not.
  std::optional<std::uint32_t> admit_actor_locked(const std::string& name);
  ActorInfo& start_actor_locked(ActorInfo info, bool submit_creation);
  void submit_creation_locked(ActorInfo& a, ObjectId result);
  ObjectId lookup_actor_locked(const std::string& name, std::string_view class_type);
  void kill_actor_locked(ObjectId actor, bool no_restart);
  void note_actor_task_locked(std::uint32_t idx);   // a task of an actor entered the table
  void queue_actor_task_locked(std::uint32_t idx);  // it is kQueued: send what may run
  void pump_actor_locked(ActorInfo& a);
  void push_actor_control_locked(ActorInfo& a, std::uint64_t entry);
  shm::TaskState state_of(wire::TaskRef ref) const;
  void actor_task_finished_locked(const TaskInfo& info, std::uint32_t idx);
  // actor_exits.cpp
  bool actor_restartable(const ActorInfo& a) const;
  void recover_actor_task_locked(std::uint32_t idx, shm::TaskWord tw, const shm::ExitReport& r);
  void on_actor_exit_locked(const shm::ExitReport& r);
  void on_actor_fork_failure_locked(ActorInfo& a, int err);
  void respawn_actor_locked(std::uint32_t slot);
  void restart_actor_locked(ActorInfo& a);
  void bury_actor_locked(ActorInfo& a);
  void fail_actor_calls_locked(ActorInfo& a);
  void settle_actors_locked();
  void hold_cpus_for_actor_locked(ActorInfo& a);
  // actor_events.cpp
  void handle_actor_message_locked(std::uint32_t w, wire::MsgType type, std::span<const std::byte> p);
  void adopt_actor_call_locked(std::uint32_t w, const wire::ActorCallHeader& h, std::span<const ObjectId> resolve,
                               std::span<const ObjectId> contained, std::string name);
  void adopt_actor_create_locked(std::uint32_t w, const wire::ActorCreateHeader& h, std::span<const ObjectId> resolve,
                                 std::span<const ObjectId> contained, std::string task_name, std::string actor_name);
  void answer_actor_lookup_locked(std::uint32_t w, ObjectId reply, const std::string& name,
                                  const std::string& class_type);

  // events.cpp
  bool events_pending() noexcept { return pool_.events_pending(); }
  void pump_locked();
  void drain_events_locked(std::uint32_t w);
  bool take_message_locked(std::uint32_t w, const shm::MessageReader::Message& m);
  void handle_message_locked(std::uint32_t w, const shm::MessageReader::Message& m);
  void take_holds_locked(std::uint32_t w, std::span<const ObjectId> ids);
  void drop_holds_locked(std::uint32_t w, std::span<const ObjectId> ids);
  void adopt_worker_put_locked(std::uint32_t w, ObjectId id, std::span<const ObjectId> contained);
  void supply_locked(std::uint32_t w);
  void reclaim_supply_locked(std::uint32_t w);
  void maybe_grow_locked();
  bool holds_for_blocked_locked(std::uint32_t w) const;
  void event_loop();
  void ring_doorbell() noexcept;

  // timeline_hooks.cpp (each a no-op, one branch, with the timeline off)
  void drain_timeline_locked(std::uint32_t w);
  void drain_timelines_locked();
  /// A worker died at `now_ns`: its open attempts end then; file them after its tasks' recovery.
  std::vector<TimelineEvent> end_timeline_locked(std::uint32_t w, std::uint64_t now_ns);
  /// Shutdown: the file Options::timeline names (a warning when it cannot be written).
  void write_timeline_at_shutdown() noexcept;

  // exits.cpp
  void start_pool();
  void wait_first_workers();
  void request_spawn(std::uint32_t slot);
  void watch_pool_locked();
  void handle_exit_locked(const shm::ExitReport& r);
  void drain_dead_worker_locked(std::uint32_t slot);
  void recover_tasks_locked(const shm::ExitReport& r);
  void recover_task_locked(std::uint32_t idx, const shm::ExitReport& r, bool cancel_kill, std::uint64_t top);
  void requeue_hold_locked(std::uint32_t idx, shm::TaskWord tw);
  void retry_or_fail_locked(std::uint32_t idx, shm::TaskWord tw, const shm::ExitReport& r);
  void release_worker_holds_locked(std::uint32_t slot);
  void replace_worker_locked(const shm::ExitReport& r);
  void on_fork_server_death_locked();
  void break_pool_locked(const std::string& why);
  void fail_live_task_locked(std::uint32_t idx, std::span<const std::byte> payload);

  Options options_;
  shm::Segment seg_;
  common::Views v_;
  const std::uint32_t session_;

  std::mutex mu_;  // guards the parts below (ObjectTable's heap has its own lock too)
  ObjectTable objects_;
  TaskTable tasks_;
  WorkerPool pool_;
  ActorTable actors_;
  Counters counters_;  // written under mu_, read by anyone (counters.hpp)
  Timeline timeline_;
  std::uint32_t timeline_passes_ = 0;  // pump_locked's passes (mu_): every kTimelinePumpEvery-th drains the rings

  std::atomic<bool> stopping_{false};
  std::atomic<bool> closing_{false};  // shutdown() runs: API calls leave
  std::thread event_thread_;
  std::unique_ptr<Dashboard> dashboard_;  // Options::dashboard: started last, stopped first
};

}  // namespace shmray::driver
