#pragma once
// Filling a task slot: the fields a worker reads when it claims the task, written the same
// way by the driver (its submissions and the holds of a task with num_cpus > 1) and by a
// worker (a task submitted inside a task). The caller publishes the slot afterwards with a
// release store of its state word, which makes these fields visible to the claimer.
#include <cstdint>

#include "shm/layout.hpp"

namespace shmray::common {

struct TaskFields {
  std::uint64_t result = 0;     // ObjectId of the result
  std::uint32_t function = 0;   // registry index, or shm::kHoldFunction
  std::uint32_t args_size = 0;  // descriptor bytes (checked_descriptor_size: fits 32 bits)
  std::uint64_t args_off = 0;   // arena offset of a spilled descriptor, 0 when inline
  std::uint32_t cpus = 0;       // slots the task holds (0 for a hold)
  std::uint64_t parent = 0;     // TaskRef of the submitting task (of the main task for a hold)
  std::int32_t max_retries = 0;
  bool retry_exceptions = false;
  bool actor = false;     // kTaskActor: only its actor's process runs it
  bool killable = false;  // kTaskKillable: it has a timeout, so it is never run inline
};

/// Writes `f` into `slot` as a first attempt. The descriptor itself is the caller's to write
/// (inline_args or the block at args_off).
inline void fill_task_slot(shm::TaskSlot& slot, const TaskFields& f) noexcept {
  slot.result = f.result;
  slot.function = f.function;
  slot.args_size = f.args_size;
  slot.args_off = f.args_off;
  slot.attempt = 0;
  slot.num_cpus_centi = f.cpus * 100;
  slot.parent = f.parent;
  slot.max_retries = f.max_retries;
  slot.holds = 0;  // a stale word of the slot's last task must not count (holds, or an actor's slot)
  slot.task_flags = (f.retry_exceptions ? shm::kTaskRetryExceptions : 0) | (f.actor ? shm::kTaskActor : 0) |
                    (f.killable ? shm::kTaskKillable : 0);
}

}  // namespace shmray::common
