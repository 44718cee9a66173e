#pragma once
// The runtime inside a worker process: the claim loop, running a task (arguments read in
// place, result written into the store), and the API calls a task makes (get, wait, put,
// cancelled). References it takes and drops are reported to the driver on its event ring.
#include <atomic>
#include <cstdint>
#include <mutex>
#include <span>
#include <string>
#include <unordered_set>
#include <vector>

#include "common/object_wait.hpp"
#include "common/views.hpp"
#include "shm/heap.hpp"
#include "shm/message_ring.hpp"
#include "shm/ring.hpp"
#include "shm/segment.hpp"
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
  void add_ref(ObjectId id) override;
  void release(ObjectId id) noexcept override;
  void cancel(ObjectId id, const CancelOptions& options) override;
  bool cancelled() override;
  std::uint64_t allocate_block(std::size_t bytes, void** at) override;
  void free_block(std::uint64_t offset) noexcept override;
  ObjectId put_block(const detail::ValueBlock& block) override;

 private:
  class Call;
  class InlineHelper;
  struct Running {
    std::uint64_t task_ref = 0;
    ObjectId result;
    bool no_inline = false;  // kTaskNoInline: this run leaves its children to other workers
  };

  std::uint64_t next_task();
  void run_task(std::uint64_t task_ref);
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
  void flush_releases_locked();
  std::byte* reserve_waiting_locked(wire::MsgType type, std::size_t size, std::uint16_t flags);
  void drain_control();
  bool drain_control_locked();
  void ring_doorbell() noexcept;
  std::uint64_t allocate_block_waiting(std::size_t bytes);
  /// A slot the driver supplied (`tasks`: a task slot, else an object slot); waits up to
  /// store_full_timeout, then TaskTableFullError / ObjectStoreFullError.
  std::uint32_t take_supply(std::vector<std::uint32_t>& from, bool tasks);
  void take_submit_slots(std::size_t desc_size, std::uint64_t& spill, std::uint32_t& obj, std::uint32_t& idx);
  void post_submit(const wire::SubmitHeader& h, const detail::SubmitRequest& req);
  bool try_run_producer(ObjectId id, int depth);
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
  std::mutex mu_;  // event writer, heap, release buffer, slot supplies
  std::atomic<std::uint64_t> bottom_{0};  // stack_.front().task_ref, 0 when idle (read by other threads)
  shm::Heap heap_;
  shm::MessageWriter events_;
  shm::SpscConsumer<std::uint64_t> control_;
  std::vector<std::uint64_t> releases_;
  std::uint32_t result_flags_ = 0;     // flags of the last published result
  std::vector<ObjectId> contained_;    // refs inside the last published result
  std::vector<Running> stack_;         // tasks this process runs (nested by inline execution)
  std::vector<std::uint32_t> object_supply_, task_supply_;  // slots the driver handed us
  std::vector<std::uint64_t> own_children_;  // tasks we submitted, oldest first (run inline while waiting)
  std::unordered_set<std::uint64_t> walk_seen_;  // waiting tasks one inline walk looked under (try_run_producer)
  bool task_blocked_ = false;       // the task thread sleeps in get/wait (written by it, under blocked_mu_)
  std::mutex blocked_mu_;           // the blocked report: taken before mu_, never after
  int waiting_threads_ = 0;         // threads of the task asleep in get/wait (blocked_mu_)
  bool blocked_reported_ = false;   // what the driver was told (blocked_mu_)
  bool trimmed_ = true;  // no task ran since the last malloc_trim
};

}  // namespace shmray::worker
