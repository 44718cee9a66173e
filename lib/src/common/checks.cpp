#include "common/checks.hpp"

#include "common/views.hpp"
#include "shm/futex.hpp"
#include "wire/descriptor.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "shmray/errors.hpp"

namespace shmray::common {

namespace {
std::string mib(std::uint64_t bytes) {
  return bytes < (1u << 20) ? std::to_string(bytes) + " bytes" : std::to_string((bytes + (1 << 19)) >> 20) + " MiB";
}

// Above the most workers a runtime can have a task stays pending anyway; the clamp keeps the
// conversion defined and num_cpus * 100 (TaskSlot::num_cpus_centi) within 32 bits.
std::uint32_t cpu_slots(double num_cpus, const char* field) {
  if (!(num_cpus >= 0) || !std::isfinite(num_cpus))
    throw std::invalid_argument(std::string(field) + " must be a finite number >= 0");
  constexpr double kMaxCpus = 1u << 20;
  return num_cpus > kMaxCpus ? static_cast<std::uint32_t>(kMaxCpus) : static_cast<std::uint32_t>(std::ceil(num_cpus));
}
}  // namespace

const detail::FunctionInfo& checked_function(std::uint32_t index, detail::FunctionKind kind, const char* what) {
  const detail::FunctionInfo* fn = detail::function_at(index);
  if (!fn || fn->kind != kind) throw UnregisteredFunctionError(std::string("shmray: ") + what + ": unknown function");
  return *fn;
}

std::uint32_t checked_cpus(const TaskOptions& options) {
  const std::uint32_t cpus = cpu_slots(options.num_cpus, "shmray: TaskOptions::num_cpus");
  if (options.max_retries < -1)
    throw std::invalid_argument("shmray: TaskOptions::max_retries must be >= -1 (-1: no limit)");
  if (options.timeout && options.timeout->count() <= 0)
    throw std::invalid_argument("shmray: TaskOptions::timeout must be positive (leave it empty for no limit)");
  if (options.name.size() > kMaxTaskNameBytes)
    throw std::invalid_argument("shmray: TaskOptions::name is " + mib(options.name.size()) + " long; give at most " +
                                mib(kMaxTaskNameBytes) + " (it is for logs and errors)");
  return std::max(cpus, 1u);
}

std::uint64_t task_deadline_ns(const TaskOptions& options) noexcept {
  if (!options.timeout) return 0;
  // A timeout of centuries is no limit: the sum must not wrap (and 0 means none).
  constexpr std::uint64_t kFar = std::uint64_t{1} << 62;
  const std::uint64_t t = static_cast<std::uint64_t>(options.timeout->count());
  return t >= kFar ? 0 : shm::now_ns() + t;
}

std::uint32_t checked_actor_cpus(const ActorOptions& options) {
  const std::uint32_t cpus = cpu_slots(options.num_cpus, "shmray::actor: ActorOptions::num_cpus");
  if (options.max_restarts < -1)
    throw std::invalid_argument("shmray::actor: ActorOptions::max_restarts must be >= -1 (-1: no limit)");
  if (options.max_task_retries < -1)
    throw std::invalid_argument("shmray::actor: ActorOptions::max_task_retries must be >= -1 (-1: no limit)");
  if (options.detached && options.name.empty())
    throw std::invalid_argument(
        "shmray::actor: a detached actor needs a name (ActorOptions::name): it has no handle to keep it otherwise");
  if (options.name.size() > 4096)
    throw std::invalid_argument("shmray::actor: ActorOptions::name is longer than 4096 bytes");
  return cpus;
}

std::size_t checked_descriptor_size(std::size_t resolve, std::size_t args, std::string_view name,
                                    std::uint64_t store_bytes, const std::string& function) {
  constexpr std::uint64_t kMax = UINT32_MAX;  // TaskSlot::args_size
  const std::uint64_t limit = std::min<std::uint64_t>(kMax, store_bytes);
  const std::uint64_t fixed = sizeof(wire::DescriptorHeader) + wire::descriptor_name_size(name);
  const bool fits = resolve <= limit / 8 && args <= limit - 8 * std::uint64_t(resolve) &&
                    fixed <= limit - 8 * std::uint64_t(resolve) - args;
  if (!fits)
    throw ObjectStoreFullError(
        "shmray: the arguments of " + function + " (" + mib(args) + ", " + std::to_string(resolve) +
        " refs) are larger than " +
        (limit == kMax ? std::string("a task can carry (4 GiB)") : "the whole object store") +
        "; put() large values once and pass the ref, or init() with a larger object_store_bytes");
  return wire::descriptor_size(resolve, args, name);
}

void throw_not_live(detail::ObjectId id) {
  throw std::invalid_argument("shmray: ObjectRef(" + id.hex() +
                              ") names no live object (a ref from before shutdown()/init(), or forged?)");
}

shm::ObjectSlot& check_live(const Views& v, detail::ObjectId id) {
  shm::ObjectSlot* s = v.live(id);
  if (!s) throw_not_live(id);
  return *s;
}

void check_all_live(const Views& v, std::span<const detail::ObjectId> ids) {
  for (detail::ObjectId id : ids) check_live(v, id);
}

void throw_larger_than_store(std::size_t bytes, std::uint64_t store_bytes) {
  throw ObjectStoreFullError("shmray: a value of " + mib(bytes) + " is larger than the whole object store (" +
                             mib(store_bytes) + "); init() with a larger object_store_bytes");
}

void throw_object_table_full(std::uint32_t capacity, std::uint64_t waited_ns) {
  throw ObjectStoreFullError("shmray: the object table is full (" + std::to_string(capacity) +
                             " slots): no slot for an object made inside a task after waiting " +
                             std::to_string(waited_ns / 1'000'000) +
                             " ms; drop ObjectRefs you no longer need, or init() with a larger object_store_bytes "
                             "(the table scales with it)");
}

void throw_task_table_full(std::uint32_t capacity, std::uint64_t waited_ns) {
  throw TaskTableFullError("shmray: the task table is full (" + std::to_string(capacity) +
                           " tasks submitted and not finished): no slot for a task submitted inside a task after "
                           "waiting " +
                           std::to_string(waited_ns / 1'000'000) +
                           " ms; get() results before submitting more, and keep chains of nested tasks shallower "
                           "than the table");
}

void throw_no_room(std::size_t bytes, std::uint64_t store_bytes, std::uint64_t waited_ns) {
  throw ObjectStoreFullError("shmray: no room for a value of " + mib(bytes) + " in the object store (" +
                             mib(store_bytes) + ") after waiting " + std::to_string(waited_ns / 1'000'000) +
                             " ms; drop ObjectRefs you no longer need or init() with a larger object_store_bytes");
}

}  // namespace shmray::common
