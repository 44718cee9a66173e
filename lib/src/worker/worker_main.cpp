#include "worker/worker_main.hpp"

#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <stdio_ext.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <vector>

#include "common/views.hpp"
#include "shm/heap.hpp"

#include "runtime_slot.hpp"
#include "shm/futex.hpp"
#include "wire/fork_protocol.hpp"
#include "worker/worker_runtime.hpp"

namespace shmray::worker {

namespace {

// store_stats() inside a task, from the shared tables (the driver's counters are its own):
// live objects (not the empty slots handed to workers for their submissions), the blocks of
// final ones, spans some process owns.
StoreStats scan_store(const common::Views& v) {
  StoreStats st;
  st.capacity_bytes = v.geo.arena_bytes;
  st.reserved_bytes = std::size_t(v.spans.spans_in_use()) * shm::kSpanBytes;
  const shm::Heap sizes(v.spans, 0);
  // Only resident pages of the object table: reading a page never touched would allocate it.
  const std::uintptr_t page = shm::kPage;
  const auto lo = reinterpret_cast<std::uintptr_t>(v.objects) / page * page;
  const auto hi = reinterpret_cast<std::uintptr_t>(v.objects + v.object_capacity);
  std::vector<unsigned char> resident((hi - lo + page - 1) / page);
  if (::mincore(reinterpret_cast<void*>(lo), hi - lo, resident.data()) != 0) resident.assign(resident.size(), 1);
  const auto first = reinterpret_cast<std::uintptr_t>(v.objects);
  constexpr std::size_t kSlot = sizeof(shm::ObjectSlot);
  for (std::size_t p = 0; p < resident.size(); ++p) {
    if (!(resident[p] & 1)) continue;
    const std::uintptr_t from = lo + p * page, to = from + page;  // slots that start in this page
    const std::size_t i0 = from <= first ? 0 : (from - first + kSlot - 1) / kSlot;
    const std::size_t i1 = std::min<std::size_t>(v.object_capacity, (to - first + kSlot - 1) / kSlot);
    for (std::size_t i = i0; i < i1; ++i) {
      const shm::ObjectSlot& s = v.objects[i];
      const shm::ObjectWord w = v.word(s);
      if (w.is(shm::ObjectState::kFree)) continue;
      if (w.is(shm::ObjectState::kPending) && shm::load_acquire(const_cast<std::uint64_t&>(s.producer)) == 0)
        continue;  // an empty slot kept ready for a worker's submissions
      ++st.objects;
      if (w.final() && s.data) st.used_bytes += sizes.block_size(s.data);
    }
  }
  return st;
}

const common::Views* g_stats_views = nullptr;

}  // namespace
sigset_t ignored_signals() noexcept {
  sigset_t out;
  sigemptyset(&out);
  for (int sig = 1; sig < NSIG; ++sig) {
    struct sigaction sa {};
    if (::sigaction(sig, nullptr, &sa) == 0 && !(sa.sa_flags & SA_SIGINFO) && sa.sa_handler == SIG_IGN)
      sigaddset(&out, sig);
  }
  return out;
}

void reset_signal_dispositions(const sigset_t& ignored) noexcept {
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    struct sigaction sa {};
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = sig != SIGCHLD && sigismember(&ignored, sig) == 1 ? SIG_IGN : SIG_DFL;
    ::sigaction(sig, &sa, nullptr);  // EINVAL for the C library's own signals: left alone
  }
}

namespace {

// The process a worker starts as (a fork of the fork server): its death signal, signals,
// and stdio.
void setup_process(const WorkerStart& start) {
  // Die with the fork server (which dies with the driver); it may have gone already.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != start.parent) ::_exit(wire::kExitOrphan);
  ::prctl(PR_SET_NAME, "shmray-worker", 0, 0, 0);
  sigset_t all;
  sigemptyset(&all);
  ::sigprocmask(SIG_SETMASK, &all, nullptr);  // the fork server blocks SIGCHLD for its signalfd
  // Start from the host's dispositions without its handlers: a handler the host installed
  // (a crash reporter, a SIGWINCH or SIGALRM handler) belongs to the driver and would run
  // on driver state here; what the host ignores (nohup's SIGHUP) stays ignored; SIGCHLD is
  // default. The fork server's own choices (SIGPIPE ignored) are not passed on.
  reset_signal_dispositions(start.host_ignored);
  // Ctrl-C is the driver's to handle; workers end with it. The pool has its own process
  // group (fork_server.cpp): reading or writing the host's terminal from it must not stop
  // a worker (SIGTTIN/SIGTTOU), it fails or goes through instead.
  for (int sig : {SIGINT, SIGTTIN, SIGTTOU}) ::signal(sig, SIG_IGN);
  // What the driver had buffered in stdio when it forked us is the driver's to print.
  __fpurge(stdout);
  __fpurge(stderr);
  for (int fd : start.close_fds) ::close(fd);
  if (start.out_fd >= 0) {
    ::dup2(start.out_fd, STDOUT_FILENO);
    ::dup2(start.err_fd, STDERR_FILENO);
    ::close(start.out_fd);
    ::close(start.err_fd);
  }
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // a pipe now: flush per line so output survives a kill
}

// Stack, exit and allocator settings for running tasks.
void setup_memory() {
  // Inline execution of nested tasks deepens the stack; let it grow well past 8 MiB.
  rlimit rl{};
  if (::getrlimit(RLIMIT_STACK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (256ul << 20)) {
    rl.rlim_cur = std::min<rlim_t>(256ul << 20, rl.rlim_max);
    ::setrlimit(RLIMIT_STACK, &rl);
  }

  // A task that calls exit() must not run the driver's atexit handlers and static
  // destructors copied into this process: leave at once, with its status, after stdio.
  ::on_exit(
      [](int status, void*) {
        std::fflush(nullptr);
        ::_exit(status);
      },
      nullptr);
  // Tasks that make large values (a 100 MiB array) would get fresh pages from mmap on every
  // call: faulting them in costs more than filling them. Keep large blocks in the heap and
  // reuse them; a worker idle for a second gives the memory back (malloc_trim, next_task).
  ::mallopt(M_MMAP_MAX, 0);
  ::mallopt(M_TRIM_THRESHOLD, 512 << 20);
}

}  // namespace

void worker_main(const shm::Segment& seg, const WorkerStart& start) {
  setup_process(start);
  if (shm::validate_header({seg.base(), seg.size()}) != shm::AttachError::kNone) ::_exit(wire::kExitBadLayout);
  seg.protect_for_worker();  // a task's stray write into the header faults here, not in the driver
  setup_memory();
  ::pthread_atfork(nullptr, nullptr, note_fork_in_task);
  static WorkerRuntime* rt = new WorkerRuntime(seg, start.slot);  // lives until _exit
  internal::install_worker_runtime(rt, seg.geometry().session);
  g_stats_views = new common::Views(seg);  // lives until _exit
  internal::install_worker_stats([] { return scan_store(*g_stats_views); });
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
  ::_exit(wire::kExitInternal);
}

}  // namespace shmray::worker
