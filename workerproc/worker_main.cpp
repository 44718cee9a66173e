#include "workerproc/worker_main.hpp"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <iostream>

#include "runtime_slot.hpp"
#include "workerproc/exit_codes.hpp"
#include "shm/futex.hpp"
#include "workerproc/worker_runtime.hpp"

namespace shmray::worker {

void worker_main(const shm::Segment& seg, const WorkerStart& start) {
  // Die with the fork server (which dies with the driver); it may have gone already.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != start.parent) ::_exit(kExitOrphan);
  ::prctl(PR_SET_NAME, "shmray-worker", 0, 0, 0);
  sigset_t all;
  sigemptyset(&all);
  ::sigprocmask(SIG_SETMASK, &all, nullptr);  // the fork server blocks SIGCHLD for its signalfd
  ::signal(SIGCHLD, SIG_DFL);
  ::signal(SIGPIPE, SIG_DFL);
  for (int fd : start.close_fds) ::close(fd);
  if (start.out_fd >= 0) {
    ::dup2(start.out_fd, STDOUT_FILENO);
    ::dup2(start.err_fd, STDERR_FILENO);
    ::close(start.out_fd);
    ::close(start.err_fd);
  }
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // a pipe now: flush per line so output survives a kill

  if (shm::validate_header({seg.base(), seg.size()}) != shm::AttachError::kNone) ::_exit(kExitBadLayout);
  // Inline execution of nested tasks deepens the stack; let it grow well past 8 MiB.
  rlimit rl{};
  if (::getrlimit(RLIMIT_STACK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (256ul << 20)) {
    rl.rlim_cur = std::min<rlim_t>(256ul << 20, rl.rlim_max);
    ::setrlimit(RLIMIT_STACK, &rl);
  }

  static WorkerRuntime* rt = new WorkerRuntime(seg, start.slot);  // lives until _exit
  internal::install_worker_runtime(rt, seg.header().session);
  shm::WorkerControl& c = seg.worker(start.slot);
  c.pid = ::getpid();
  c.version_ack = shm::kLayoutVersion;
  shm::store_release(c.state, std::uint32_t(shm::WorkerState::kIdle));
  shm::futex_bump_and_wake_all(&seg.header().doorbell.value);  // init() waits for us
  try {
    rt->run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "shmray: worker internal error: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "shmray: worker internal error\n");
  }
  ::_exit(kExitInternal);
}

}  // namespace shmray::worker
