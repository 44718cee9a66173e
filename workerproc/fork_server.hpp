#pragma once
// The fork server (zygote): forked by init() before the driver starts any thread, it forks
// every worker, reaps them, reports their exits through the segment, relays their output
// with a "(pid=N) " prefix, and takes every worker down when the driver dies.
#include <sys/types.h>

#include <cstdint>

#include "shm/segment.hpp"

namespace shmray::worker {

struct ForkServerConfig {
  pid_t driver_pid = 0;
  std::uint32_t initial_workers = 0;
  bool log_to_driver = true;
};

/// Requests the driver writes on the fork server's pipe.
struct ForkRequest {
  std::uint32_t op;    // kSpawn or kShutdown
  std::uint32_t slot;  // worker slot to (re)start
};
inline constexpr std::uint32_t kSpawn = 1;
inline constexpr std::uint32_t kShutdown = 2;

/// Runs the fork server in the child forked for it; never returns.
[[noreturn]] void fork_server_main(const shm::Segment& seg, int request_fd, const ForkServerConfig& cfg);

}  // namespace shmray::worker
