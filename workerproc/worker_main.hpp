#pragma once
// Entry of a worker process, right after the fork server forked it.
#include <sys/types.h>

#include <cstdint>
#include <span>

#include "shm/segment.hpp"

namespace shmray::worker {

struct WorkerStart {
  std::uint32_t slot = 0;
  pid_t parent = 0;      // the fork server
  int out_fd = -1;       // pipes to the fork server (-1: output discarded)
  int err_fd = -1;
  std::span<const int> close_fds;  // the fork server's own descriptors
};

[[noreturn]] void worker_main(const shm::Segment& seg, const WorkerStart& start);

}  // namespace shmray::worker
