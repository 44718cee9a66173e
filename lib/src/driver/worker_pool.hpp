#pragma once
// The driver's end of the worker pool: one WorkerEnd per worker slot (its rings, the refs
// and supply it holds, its process), the fork server (zygote) that forks the workers, the
// exit ring it reports deaths on, its restarts, the extra workers started while others are
// blocked, and why the pool is broken when it is. worker_pool.cpp: the fork server and
// processes; worker_slots.cpp: per-slot state (rings, spawns, deaths, blocks, wake-ups).
//
// Methods named *_locked: the caller holds Driver::mu_. The others say what they need.
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/views.hpp"
#include "shm/message_ring.hpp"
#include "shm/ring.hpp"
#include "shm/segment.hpp"
#include "wire/control.hpp"

namespace shmray::driver {

/// Driver's end of one worker slot.
struct WorkerEnd {
  shm::MessageReader events;
  shm::SpscProducer<std::uint64_t> control;
  std::deque<std::uint64_t> control_backlog;               // entries the control ring had no room for
  std::unordered_map<std::uint64_t, std::uint32_t> holds;  // refs the worker holds (by its messages)
  std::string joining;                                     // pieces of a message larger than one record, so far
  std::uint16_t joining_type = 0;
  std::vector<std::uint32_t> supplied_objects, supplied_tasks;  // handed out, not yet reported used
  pid_t pid = 0;
  std::uint32_t incarnation = 0;
  bool alive = false;
  bool corrupt = false;
  bool blocked = false;          // waiting inside a task: its CPU slot is free for another worker
  bool extra = false;            // started because others were blocked; not replaced when it ends
  int pidfd = -1;                // opened once the worker announced its pid: kills and waits hit exactly it
  bool respawn_pending = false;  // its fork failed: try again at respawn_at
  std::chrono::steady_clock::time_point respawn_at{};
};

/// Control ring entries (driver -> worker), shared with the worker side in wire/control.hpp.
using wire::kControlFree;
using wire::kControlObject;
using wire::kControlPayload;
using wire::kControlTask;
/// Slots a worker keeps on hand for submissions and puts made inside its tasks.
inline constexpr std::uint32_t kSupplyObjects = 256;
inline constexpr std::uint32_t kSupplyTasks = 128;

/// "killed by signal 9 (SIGKILL)", "exited with code 3", ...
std::string describe_exit(int status);
/// The PoolError message for a fork that failed with errno `err`.
std::string fork_failed_message(int err);
/// The fork server could not fork the worker of this report.
bool is_fork_failure(const shm::ExitReport& r);

class WorkerPool {
 public:
  WorkerPool(shm::Segment& seg, common::Views& v, bool log_to_driver);

  // Sized once in init_slots: size() and the event rings are read without mu_.
  std::uint32_t size() const noexcept { return static_cast<std::uint32_t>(workers_.size()); }
  WorkerEnd& operator[](std::uint32_t w) { return workers_[w]; }
  const WorkerEnd& operator[](std::uint32_t w) const { return workers_[w]; }
  /// Something for pump: events, exit reports, control entries waiting. No lock needed.
  bool events_pending() noexcept;

  // Starting and stopping (no other thread runs yet / any more: no lock needed).
  /// Sizes the pool to max_workers; slots [0, first) are the first workers, starting.
  void init_slots(std::uint32_t first);
  /// Whether the first `n` workers have left kStarting.
  bool first_workers_ready(std::uint32_t n) const;
  /// Throws for an exit report that must fail init (fork failure, layout mismatch).
  static void throw_if_fatal_at_start(const shm::ExitReport& r);
  /// Throws when the fork server ended while the first workers start.
  void throw_if_fork_server_ended();
  void start_fork_server(const std::vector<std::uint32_t>& slots);
  /// Asks the fork server to stop (it kills and reaps the workers) and reaps it.
  void stop() noexcept;
  void forget_after_fork() noexcept;  // a forked child: closes the request socket unused

  // Workers (mu_ held).
  pid_t worker_pid(std::uint32_t slot) const noexcept;  // 0 unless a child of our fork server
  std::optional<shm::ExitReport> pop_exit() noexcept { return exits_.try_pop(); }
  /// A block owned by a worker goes back to it (control ring, or its backlog): true; else false.
  bool return_worker_block_locked(std::uint64_t offset);
  void flush_control_backlog_locked(std::uint32_t w);
  bool wants_supply_locked(std::uint32_t w) const;
  void corrupt_locked(std::uint32_t w, const char* what);  // kills it; its exit report cleans up
  /// SIGKILLs the process in slot `w` (its exit report cleans up); nothing when it has no pid yet.
  void kill_locked(std::uint32_t w);
  /// Appends a control entry for worker `w`, after those its backlog holds.
  void push_control_locked(std::uint32_t w, std::uint64_t entry);
  void wake_owners_of_frees_locked() noexcept;
  bool unstall_dispatch() noexcept;  // event thread only; true while it must look again soon
  /// Picks a slot for an extra worker (marks it extra): false when none is free.
  bool pick_extra_slot_locked(std::uint32_t& slot);

  // Spawning and deaths (mu_ held).
  /// Fresh rings and control block for a new process in `slot` (then supply it, then queue_spawn).
  void prepare_spawn_locked(std::uint32_t slot);
  void queue_spawn_locked(std::uint32_t slot);
  void send_requests_locked() noexcept;
  /// Opens the pidfd of a worker that announced its pid.
  void open_pidfd_locked(std::uint32_t w);
  /// A slot whose fork failed is due to be tried again (clears the mark).
  bool respawn_due_locked(std::uint32_t w, std::chrono::steady_clock::time_point now);
  /// The slot's fork failed: respawn_due_locked says when to try again.
  void retry_fork_later_locked(std::uint32_t slot);
  /// Whether `r` is about the process now in its slot (not an earlier one).
  bool current_exit_locked(const shm::ExitReport& r) const;
  void mark_dead_locked(std::uint32_t slot);
  enum class AfterExit { kNothing, kRespawn, kNoWorkerLeft };
  /// What the slot of a dead worker needs: an extra one is not replaced, a failed fork is
  /// tried again later (kNoWorkerLeft when no regular worker is alive), others respawn.
  AfterExit after_exit_locked(const shm::ExitReport& r, bool stopping);

  // The fork server (mu_ held).
  /// At most one check per 20 ms: true when the fork server has died.
  bool fork_server_died_locked(std::chrono::steady_clock::time_point now);
  /// Reaps the dead fork server, closes its fds, drops queued requests; says how it ended.
  std::string reap_fork_server_locked();
  /// SIGKILLs every worker still alive through its pidfd and waits (5 s at most) until gone.
  void kill_survivors_locked();
  /// Counts a restart: the PoolError message when there were too many.
  std::optional<std::string> count_restart_locked(const std::string& how);
  /// The slots alive but still starting (they go to the new fork server as its first workers).
  std::vector<std::uint32_t> starting_slots_locked() const;
  void clear_requests_locked() { requests_.clear(); }

  const std::string& broken() const { return broken_; }
  /// Marks the pool broken: false when it was already.
  bool set_broken_locked(const std::string& why);

 private:
  void reset_worker_rings(std::uint32_t slot);
  void note_control_backlog(std::uint32_t w) noexcept;  // sets the worker's more_control

  shm::Segment& seg_;
  common::Views& v_;
  const bool log_to_driver_;
  std::vector<WorkerEnd> workers_;                     // sized once in init_slots: its size is read without mu_
  std::atomic<std::size_t> control_backlog_total_{0};  // entries over all control_backlogs (read without mu_)
  shm::SpscConsumer<shm::ExitReport> exits_;

  pid_t zygote_pid_ = -1;
  int zygote_fd_ = -1;                  // our end of the fork server's SOCK_SEQPACKET request socket
  int zygote_pidfd_ = -1;               // readable once the fork server has died (the event thread polls it)
  std::deque<std::uint64_t> requests_;  // requests the socket had no room for (op << 32 | slot)
  std::deque<std::chrono::steady_clock::time_point> restarts_;  // recent fork-server restarts
  std::chrono::steady_clock::time_point last_zygote_check_{};
  std::string broken_;                                 // why the pool cannot run tasks (PoolError); empty while it can
  std::uint64_t stall_head_ = 0, stall_since_ns_ = 0;  // event thread only (unstall_dispatch)
};

}  // namespace shmray::driver
