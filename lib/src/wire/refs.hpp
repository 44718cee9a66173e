#pragma once
// Typed values for the raw 64-bit words that name things in the segment, so a task ref is
// not passed where an arena offset or an object id is meant (the type says which). They
// hold exactly the word the segment stores: `.value` is what goes into a shared field.
#include <cstdint>

#include "shm/layout.hpp"

namespace shmray::wire {

/// A task slot and its generation (shm::task_ref: index + 1 low, generation high; 0: none).
struct TaskRef {
  std::uint64_t value = 0;

  static constexpr TaskRef make(std::uint32_t index, std::uint32_t gen) { return TaskRef{shm::task_ref(index, gen)}; }
  constexpr std::uint32_t index() const { return shm::task_ref_index(value); }
  constexpr std::uint32_t gen() const { return shm::task_ref_gen(value); }
  friend constexpr bool operator==(TaskRef, TaskRef) = default;
};

}  // namespace shmray::wire
