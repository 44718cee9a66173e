#include "workerproc/worker_main.hpp"

#include <malloc.h>
#include <pthread.h>
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
  // Start from default dispositions: handlers the host installed (a test framework's crash
  // reporter, say) belong to the driver. Ctrl-C goes to the whole process group; the driver
  // decides what it means, and workers end with it.
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTERM, SIGHUP, SIGCHLD, SIGPIPE, SIGUSR1, SIGUSR2})
    ::signal(sig, SIG_DFL);
  ::signal(SIGINT, SIG_IGN);
  for (int fd : start.close_fds) ::close(fd);
  if (start.out_fd >= 0) {
    ::dup2(start.out_fd, STDOUT_FILENO);
    ::dup2(start.err_fd, STDERR_FILENO);
    ::close(start.out_fd);
    ::close(start.err_fd);
  }
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // a pipe now: flush per line so output survives a kill

  if (shm::validate_header({seg.base(), seg.size()}) != shm::AttachError::kNone) ::_exit(kExitBadLayout);
  seg.protect_for_worker();  // a task's stray write into the header faults here, not in the driver
  // Inline execution of nested tasks deepens the stack; let it grow well past 8 MiB.
  rlimit rl{};
  if (::getrlimit(RLIMIT_STACK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (256ul << 20)) {
    rl.rlim_cur = std::min<rlim_t>(256ul << 20, rl.rlim_max);
    ::setrlimit(RLIMIT_STACK, &rl);
  }

  // A task that calls exit() must not run the driver's atexit handlers and static
  // destructors copied into this process: leave at once, with its status, after stdio.
  ::on_exit([](int status, void*) {
    std::fflush(nullptr);
    ::_exit(status);
  }, nullptr);
  // Tasks that make large values (a 100 MiB array) would get fresh pages from mmap on every
  // call: faulting them in costs more than filling them. Keep large blocks in the heap and
  // reuse them; a worker idle for a second gives the memory back (malloc_trim, next_task).
  ::mallopt(M_MMAP_MAX, 0);
  ::mallopt(M_TRIM_THRESHOLD, 512 << 20);
  ::pthread_atfork(nullptr, nullptr, note_fork_in_task);
  static WorkerRuntime* rt = new WorkerRuntime(seg, start.slot);  // lives until _exit
  internal::install_worker_runtime(rt, seg.geometry().session);
  shm::WorkerControl& c = seg.worker(start.slot);
  c.pid = ::getpid();
  c.version_ack = shm::kLayoutVersion;
  shm::store_release(c.state, std::uint32_t(shm::WorkerState::kIdle));
  shm::futex_bump_and_wake_all(&seg.hot().doorbell.value);  // init() waits for us
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
