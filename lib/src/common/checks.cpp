#include "common/checks.hpp"

#include <cmath>
#include <stdexcept>
#include <string>

#include "shmray/errors.hpp"

namespace shmray::common {

namespace {
std::string mib(std::uint64_t bytes) {
  return bytes < (1u << 20) ? std::to_string(bytes) + " bytes" : std::to_string((bytes + (1 << 19)) >> 20) + " MiB";
}
}  // namespace

std::uint32_t checked_cpus(const TaskOptions& options) {
  if (!(options.num_cpus >= 0) || !std::isfinite(options.num_cpus))
    throw std::invalid_argument("shmray: TaskOptions::num_cpus must be a finite number >= 0");
  if (options.max_retries < -1) throw std::invalid_argument("shmray: TaskOptions::max_retries must be >= -1 (-1: no limit)");
  return options.num_cpus <= 1 ? 1u : static_cast<std::uint32_t>(std::ceil(options.num_cpus));
}

void throw_larger_than_store(std::size_t bytes, std::uint64_t store_bytes) {
  throw ObjectStoreFullError("shmray: a value of " + mib(bytes) + " is larger than the whole object store (" +
                             mib(store_bytes) + "); init() with a larger object_store_bytes");
}

void throw_no_room(std::size_t bytes, std::uint64_t store_bytes, std::uint64_t waited_ns) {
  throw ObjectStoreFullError("shmray: no room for a value of " + mib(bytes) + " in the object store (" + mib(store_bytes) +
                             ") after waiting " + std::to_string(waited_ns / 1'000'000) +
                             " ms; drop ObjectRefs you no longer need or init() with a larger object_store_bytes");
}

}  // namespace shmray::common
