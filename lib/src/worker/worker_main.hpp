#pragma once
// Entry of a worker process, right after the fork server forked it.
#include <signal.h>
#include <sys/types.h>

#include <cstdint>
#include <span>

#include "shm/segment.hpp"

namespace shmray::worker {

struct WorkerStart {
  std::uint32_t slot = 0;
  pid_t parent = 0;  // the fork server
  int out_fd = -1;   // pipes to the fork server (-1: output discarded)
  int err_fd = -1;
  std::span<const int> close_fds;  // the fork server's own descriptors
  sigset_t host_ignored{};         // signals the host had set to SIG_IGN (ignored_signals())
};

/// Signals whose disposition is SIG_IGN in this process now.
sigset_t ignored_signals() noexcept;
/// Every signal 1.._NSIG-1, realtime ones included: SIG_IGN when in `ignored`, else SIG_DFL
/// (so no handler of the host runs here); SIGCHLD is always SIG_DFL without SA_NOCLDWAIT
/// (a host's SIG_IGN would make the kernel reap our children). Signals the C library keeps
/// for itself (glibc's 32 and 33) refuse the change and stay as they are.
void reset_signal_dispositions(const sigset_t& ignored) noexcept;

[[noreturn]] void worker_main(const shm::Segment& seg, const WorkerStart& start);

}  // namespace shmray::worker
