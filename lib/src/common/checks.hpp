#pragma once
// Checks and messages the driver and workers share (a submission or an allocation is the
// same mistake in either process, and says the same thing).
#include <cstddef>
#include <cstdint>

#include "shmray/options.hpp"

namespace shmray::common {

/// Validates TaskOptions (std::invalid_argument naming the field) and returns the number of
/// worker slots the task holds: ceil(num_cpus), at least 1.
std::uint32_t checked_cpus(const TaskOptions& options);

/// ObjectStoreFullError: a value larger than the whole store.
[[noreturn]] void throw_larger_than_store(std::size_t bytes, std::uint64_t store_bytes);
/// ObjectStoreFullError: no room after waiting `waited_ns`.
[[noreturn]] void throw_no_room(std::size_t bytes, std::uint64_t store_bytes, std::uint64_t waited_ns);

}  // namespace shmray::common
