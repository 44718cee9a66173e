#pragma once
// The fork server (zygote): forked by init() (and again by the driver's event thread when a
// previous one died), it forks every worker, reaps them, reports their exits through the
// segment, relays their output with a "(pid=N) " or "(pid=N, task=NAME) " prefix, and takes every worker down when
// the driver dies. Its loop never blocks: requests, deaths, worker output and the driver's
// stdout/stderr are all polled.
//
// This header is the driver's one way into the worker side (it forks the fork server and
// calls fork_server_main in the child), so it includes only shm/ and wire/: the requests it
// reads are in wire/fork_protocol.hpp. scripts/check_layering.py holds it to that.
#include <sys/types.h>

#include <cstdint>
#include <vector>

#include "shm/segment.hpp"

namespace shmray::worker {

struct ForkServerConfig {
  pid_t driver_pid = 0;
  std::vector<std::uint32_t> initial_slots;  // workers to start before the first request
  bool log_to_driver = true;
};

/// Moves `fd` above 2 (close-on-exec): a host that closed stdin/stdout/stderr would
/// otherwise get library descriptors there, and its own writes to fd 1/2 would land in them.
/// Returns the new descriptor (or -1, with `fd` closed, when none is left).
int fd_above_stdio(int fd) noexcept;

/// Runs the fork server in the child forked for it; never returns.
[[noreturn]] void fork_server_main(const shm::Segment& seg, int request_fd, const ForkServerConfig& cfg);

}  // namespace shmray::worker
