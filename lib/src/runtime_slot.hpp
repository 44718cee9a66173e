#pragma once
// The process's current runtime (driver after init(), a worker runtime inside a worker
// process) and the session its ObjectIds carry.
#include <cstdint>

#include "shmray/api.hpp"
#include "shmray/detail/runtime_api.hpp"

namespace shmray::internal {

/// Installs the runtime of a worker process (never uninstalled: workers end with _exit).
void install_worker_runtime(detail::RuntimeApi* rt, std::uint32_t session) noexcept;
/// How a worker answers store_stats() (from the shared tables; no lock the driver holds).
void install_worker_stats(StoreStats (*stats)()) noexcept;
/// True in a worker process.
bool in_worker_process() noexcept;

}  // namespace shmray::internal
