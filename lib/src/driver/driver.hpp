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
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "common/object_wait.hpp"
#include "common/views.hpp"
#include "driver/object_table.hpp"
#include "driver/task_table.hpp"
#include "driver/warn.hpp"
#include "driver/worker_pool.hpp"
#include "shm/message_ring.hpp"
#include "shm/segment.hpp"
#include "shmray/detail/runtime_api.hpp"
#include "shmray/options.hpp"
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
  void add_ref(ObjectId id) override;
  void release(ObjectId id) noexcept override;
  void cancel(ObjectId id, const CancelOptions& options) override;
  bool cancelled() override { return false; }
  std::uint64_t allocate_block(std::size_t bytes, void** at) override;
  void free_block(std::uint64_t offset) noexcept override;
  ObjectId put_block(const detail::ValueBlock& block) override;

  std::uint64_t store_bytes() const { return v_.geo.arena_bytes; }
  /// shutdown() begins: calls in flight and new ones throw NotInitializedError; wakes every
  /// waiter (object and store-space epochs). Idempotent.
  void close_calls() noexcept;
  /// In a child forked from this process (atfork handler): closes what the child inherited
  /// without telling anyone; the object itself is never destroyed there.
  void forget_after_fork() noexcept;
  /// What the store holds (tests and benchmarks).
  Usage usage();

 private:
  Driver(const Options& options, shm::Segment seg);
  class Helper;
  void throw_if_closing() const;  // driver.cpp: NotInitializedError once close_calls() ran

  // scheduler.cpp
  void publish_locked(BacklogTask&& t);
  bool try_publish_locked(BacklogTask& t);
  void queue_task_locked(std::uint32_t idx);
  void push_holds_locked(std::uint32_t idx, std::uint32_t gen, std::uint32_t new_holds);
  void push_dispatch_locked(std::uint64_t task_ref);
  void complete_task_locked(std::uint32_t slot_of_worker, const wire::TaskDone& done, std::vector<ObjectId>& contained);
  void finish_task_locked(std::uint32_t idx);
  void fail_task_locked(std::uint32_t idx, std::span<const std::byte> error_payload);
  void on_final_locked(ObjectId obj);
  /// `resolve`: ids already checked live (it indexes the object table with them). It may be
  /// the task's own pins: it reads them all before anything can fail the task.
  bool watch_deps_locked(std::uint32_t idx, std::span<const ObjectId> resolve);
  void adopt_worker_task_locked(std::uint32_t w, const wire::SubmitHeader& h, std::span<const ObjectId> resolve,
                                std::span<const ObjectId> contained, std::string name);
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
  void cancel_locked(ObjectId id, bool force, bool recursive);
  void cancel_children_locked(wire::TaskRef ref, bool force);
  void cancel_in_table_locked(ObjectId id, std::uint32_t idx, bool force);
  bool cancel_queued_locked(std::uint32_t idx, std::uint64_t& w, std::span<const std::byte> payload);
  bool cancel_claimed_locked(ObjectId id, std::uint32_t idx, std::uint64_t& w, std::span<const std::byte> payload,
                             bool force);
  /// SIGKILLs worker `worker` only while `ref` is its outermost task (handshake: cancel.cpp).
  void force_kill_locked(std::uint32_t worker, wire::TaskRef ref);
  /// Fails a submission that waited outside the table (backlog, infeasible) with `payload`.
  void fail_waiting_locked(BacklogTask&& t, const std::string& payload);
  std::string cancelled_payload(ObjectId id, std::uint32_t function, const std::string& name) const;

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
  void fail_for_broken_pool_locked(std::uint32_t idx, std::span<const std::byte> payload);

  Options options_;
  shm::Segment seg_;
  common::Views v_;
  const std::uint32_t session_;

  std::mutex mu_;  // guards the three parts below (ObjectTable's heap has its own lock too)
  ObjectTable objects_;
  TaskTable tasks_;
  WorkerPool pool_;

  std::atomic<bool> stopping_{false};
  std::atomic<bool> closing_{false};  // shutdown() runs: API calls leave
  std::thread event_thread_;
};

}  // namespace shmray::driver
