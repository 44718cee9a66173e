#pragma once
// Checks and messages the driver and workers share (a submission or an allocation is the
// same mistake in either process, and says the same thing).
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "shmray/detail/object_id.hpp"
#include "shmray/detail/registry.hpp"
#include "shmray/options.hpp"

namespace shmray::shm {
struct ObjectSlot;
}

namespace shmray::common {

struct Views;

/// Longest TaskOptions::name (it travels with the task and into every log line and error).
inline constexpr std::size_t kMaxTaskNameBytes = std::size_t{16} << 20;

/// Validates TaskOptions (std::invalid_argument naming the field) and returns the number of
/// worker slots the task holds: ceil(num_cpus), at least 1.
std::uint32_t checked_cpus(const TaskOptions& options);
/// When a task submitted now with `options` times out, on shm::now_ns()'s clock; 0 for no
/// timeout (checked_cpus checked it is positive).
std::uint64_t task_deadline_ns(const TaskOptions& options) noexcept;

/// Validates ActorOptions (std::invalid_argument naming the field) and returns the CPU slots
/// of the pool the actor holds: ceil(num_cpus), 0 for none.
std::uint32_t checked_actor_cpus(const ActorOptions& options);

/// The registered function at `index`, of `kind` (a factory for actor(), a method for
/// handle.task); UnregisteredFunctionError naming `what` otherwise.
const detail::FunctionInfo& checked_function(std::uint32_t index, detail::FunctionKind kind, const char* what);

/// Bytes of the descriptor of a task with `resolve` ids and `args` argument bytes.
/// ObjectStoreFullError (naming `function`) when it is larger than the store or than a task
/// slot's 32-bit size field can say; every count derived from it then fits 32 bits too.
std::size_t checked_descriptor_size(std::size_t resolve, std::size_t args, std::string_view name,
                                    std::uint64_t store_bytes, const std::string& function);

/// std::invalid_argument: `id` names no live object (Views::live said no).
[[noreturn]] void throw_not_live(detail::ObjectId id);
/// The slot of `id` when it names a live object (Views::live: this session, in range, its
/// generation, not free), else throw_not_live. The one check of a ref a caller passes to an
/// API call, in the driver and inside a task alike.
shm::ObjectSlot& check_live(const Views& v, detail::ObjectId id);
/// check_live for each of `ids`.
void check_all_live(const Views& v, std::span<const detail::ObjectId> ids);

/// ObjectStoreFullError: a value larger than the whole store.
[[noreturn]] void throw_larger_than_store(std::size_t bytes, std::uint64_t store_bytes);
/// ObjectStoreFullError: no object slot for a task's put or submission after `waited_ns`.
[[noreturn]] void throw_object_table_full(std::uint32_t capacity, std::uint64_t waited_ns);
/// TaskTableFullError: no task slot for a submission inside a task after `waited_ns`.
[[noreturn]] void throw_task_table_full(std::uint32_t capacity, std::uint64_t waited_ns);
/// ObjectStoreFullError: no room after waiting `waited_ns`.
[[noreturn]] void throw_no_room(std::size_t bytes, std::uint64_t store_bytes, std::uint64_t waited_ns);

}  // namespace shmray::common
