#pragma once
// The driver runtime: owns the segment, the task table bookkeeping (dependencies, backlog,
// CPU slots), reference counts and the worker pool. Implemented across:
//   driver.cpp        start/stop, RuntimeApi entry points
//   scheduler.cpp     submit, dependencies, dispatch, completion, backlog
//   object_store.cpp  object ids, reference counts, freeing, put, payload writes
//   events.cpp        draining worker event rings and exit reports; the event thread
//   worker_pool.cpp   the fork server, worker (re)starts, deaths
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/object_wait.hpp"
#include "common/views.hpp"
#include "shm/heap.hpp"
#include "shm/message_ring.hpp"
#include "shm/ring.hpp"
#include "shm/segment.hpp"
#include "shmray/detail/runtime_api.hpp"
#include "shmray/options.hpp"
#include "wire/control.hpp"
#include "wire/error_record.hpp"
#include "wire/messages.hpp"

namespace shmray::driver {

using detail::ObjectId;

/// Writes `line` and a newline to the host's stderr at once or not at all: never blocks (a
/// stderr nobody drains) and never raises SIGPIPE (one whose reader is gone). worker_pool.cpp.
void warn(const std::string& line) noexcept;

/// Driver-side facts about a task in the table.
struct TaskInfo {
  std::uint32_t gen = 0;
  bool live = false;
  ObjectId result;
  std::vector<ObjectId> pins;   // resolved args and refs passed as refs: held while the task lives
  std::uint32_t missing = 0;    // resolved args not final yet
  std::uint64_t spill = 0;      // arena block holding the descriptor when it did not fit inline
  std::int32_t max_retries = 3;
  bool retry_exceptions = false;
  std::uint32_t cpus = 1;       // worker slots it holds while it runs
  bool hold = false;            // a companion of a num_cpus > 1 task (no result of its own)
  std::uint32_t holds = 0;      // num_cpus > 1: holds made for it (they last until its result is final)
  std::string name;             // options.name, when given
  std::uint64_t parent = 0;     // TaskRef of the submitting task (0: the driver)
  bool has_children = false;    // it submitted tasks (recursive cancel looks for them)
};

/// A submission the table had no room for (or no store space for its args) yet.
struct BacklogTask {
  ObjectId result;
  std::uint32_t function = 0;
  std::string desc;  // descriptor bytes (wire/descriptor.hpp)
  std::vector<ObjectId> resolve;
  TaskInfo info;
};

/// Driver's end of one worker slot.
struct WorkerEnd {
  shm::MessageReader events;
  shm::SpscProducer<std::uint64_t> control;
  std::deque<std::uint64_t> control_backlog;        // entries the control ring had no room for
  std::unordered_map<std::uint64_t, std::uint32_t> holds;  // refs the worker holds (by its messages)
  std::string joining;              // pieces of a message larger than one record, so far
  std::uint16_t joining_type = 0;
  std::vector<std::uint32_t> supplied_objects, supplied_tasks;  // handed out, not yet reported used
  pid_t pid = 0;
  std::uint32_t incarnation = 0;
  bool alive = false;
  bool corrupt = false;
  bool blocked = false;  // waiting inside a task: its CPU slot is free for another worker
  bool extra = false;    // started because others were blocked; not replaced when it ends
  int pidfd = -1;        // opened once the worker announced its pid: kills and waits hit exactly it
  bool respawn_pending = false;  // its fork failed: try again at respawn_at
  std::chrono::steady_clock::time_point respawn_at{};
};

/// Control ring entries (driver -> worker), shared with the worker side in wire/control.hpp.
using wire::kControlFree;
using wire::kControlObject;
using wire::kControlTask;
using wire::kControlPayload;
/// Slots a worker keeps on hand for submissions and puts made inside its tasks.
inline constexpr std::uint32_t kSupplyObjects = 256;
inline constexpr std::uint32_t kSupplyTasks = 128;

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
  void push_dispatch_locked(std::uint64_t task_ref);
  void complete_task_locked(std::uint32_t slot_of_worker, const wire::TaskDone& done, std::vector<ObjectId>& contained);
  void finish_task_locked(std::uint32_t idx);
  void fail_task_locked(std::uint32_t idx, std::span<const std::byte> error_payload);
  void on_final_locked(ObjectId obj);
  bool watch_deps_locked(std::uint32_t idx, std::span<const ObjectId> resolve);
  void adopt_worker_task_locked(std::uint32_t w, const wire::SubmitHeader& h, std::span<const ObjectId> resolve,
                                std::span<const ObjectId> contained, std::string name);
  void adopt_worker_put_locked(std::uint32_t w, ObjectId id, std::span<const ObjectId> contained);
  void supply_locked(std::uint32_t w);
  void reclaim_supply_locked(std::uint32_t w);
  void maybe_grow_locked();
  bool holds_for_blocked_locked(std::uint32_t w) const;
  std::size_t driver_task_reserve() const { return v_.task_capacity / 8; }
  void drain_backlog_locked();
  void wake_worker() noexcept;

  // object_store.cpp
  ObjectId allocate_object_locked();
  void add_ref_locked(ObjectId id);
  void release_locked(ObjectId id) noexcept;
  void free_object_locked(std::uint32_t index) noexcept;
  void free_block_locked(std::uint64_t offset) noexcept;
  std::uint64_t try_allocate_block(std::size_t bytes);  // 0 when no space now
  std::uint64_t allocate_block_waiting(std::size_t bytes);  // throws ObjectStoreFullError
  bool write_payload_locked(ObjectId obj, shm::ObjectState state, std::span<const std::byte> bytes);
  void check_live(ObjectId id) const;
  /// Whether an id a worker reported names a live object; counts (and logs once) those that do not.
  bool accept_worker_ref_locked(std::uint32_t w, ObjectId id);

  // cancel.cpp
  void cancel_locked(ObjectId id, bool force, bool recursive);
  /// SIGKILLs worker `worker` only while `ref` is its outermost task (handshake: cancel.cpp).
  void force_kill_locked(std::uint32_t worker, std::uint64_t ref);
  /// Fails a task that waits outside the table (backlog, infeasible) with `error`, or as
  /// cancelled when none is given.
  bool cancel_waiting_locked(ObjectId id, std::deque<BacklogTask>& list, const std::string* error = nullptr);
  std::string cancelled_payload(ObjectId id, std::uint32_t function, const std::string& name) const;

  // events.cpp
  bool events_pending() noexcept;
  void pump_locked();
  bool take_message_locked(std::uint32_t w, const shm::MessageReader::Message& m);
  void handle_message_locked(std::uint32_t w, const shm::MessageReader::Message& m);
  void worker_corrupt_locked(std::uint32_t w, const char* what);
  void event_loop();
  bool unstall_dispatch() noexcept;  // event thread only; true while it must look again soon
  void wake_owners_of_frees_locked() noexcept;
  void ring_doorbell() noexcept;

  // worker_pool.cpp
  void start_pool();
  void stop_pool() noexcept;
  void request_spawn(std::uint32_t slot);
  void handle_exit_locked(const shm::ExitReport& r);
  void reset_worker_rings(std::uint32_t slot);
  pid_t worker_pid(std::uint32_t slot) const noexcept;
  void start_fork_server(const std::vector<std::uint32_t>& slots);
  void send_requests_locked() noexcept;
  void watch_pool_locked();
  void on_fork_server_death_locked();
  void break_pool_locked(const std::string& why);

  Options options_;
  shm::Segment seg_;
  common::Views v_;
  const std::uint32_t session_;

  std::mutex heap_mu_;  // guards heap_ (lock order: mu_ before heap_mu_)
  shm::Heap heap_;

  std::mutex mu_;  // guards everything below
  std::vector<std::uint32_t> free_objects_;
  std::uint32_t object_hwm_ = 0;
  std::size_t live_objects_ = 0;
  std::vector<std::uint32_t> free_tasks_;
  std::vector<TaskInfo> tasks_;
  std::unordered_map<std::uint32_t, std::vector<std::uint32_t>> dependents_;  // object index -> task slots
  std::unordered_map<std::uint32_t, std::vector<ObjectId>> contained_;        // object index -> refs it holds
  std::deque<BacklogTask> backlog_;
  std::vector<BacklogTask> infeasible_;  // num_cpus above the runtime's: pending for good (as in Ray)
  std::vector<WorkerEnd> workers_;  // sized once in start_pool: its size is read without mu_
  std::atomic<std::size_t> control_backlog_total_{0};  // entries over all control_backlogs (read without mu_)
  shm::SpscConsumer<shm::ExitReport> exits_;
  std::vector<std::string> warned_;
  std::uint64_t ignored_worker_refs_ = 0;  // ids from workers that named no live object

  pid_t zygote_pid_ = -1;
  int zygote_fd_ = -1;      // our end of the fork server's SOCK_SEQPACKET request socket
  int zygote_pidfd_ = -1;   // readable once the fork server has died (the event thread polls it)
  std::deque<std::uint64_t> requests_;  // requests the socket had no room for (op << 32 | slot)
  std::deque<std::chrono::steady_clock::time_point> restarts_;  // recent fork-server restarts
  std::chrono::steady_clock::time_point last_zygote_check_{};
  std::string broken_;      // why the pool cannot run tasks (PoolError); empty while it can
  std::atomic<bool> stopping_{false};
  std::atomic<bool> closing_{false};  // shutdown() runs: API calls leave
  std::thread event_thread_;
  std::uint64_t stall_head_ = 0, stall_since_ns_ = 0;  // event thread only (unstall_dispatch)
};

}  // namespace shmray::driver
