#include "workerproc/worker_main.hpp"

#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <vector>

#include "common/views.hpp"
#include "shm/heap.hpp"

#include "runtime_slot.hpp"
#include "workerproc/exit_codes.hpp"
#include "shm/futex.hpp"
#include "workerproc/worker_runtime.hpp"

namespace shmray::worker {

namespace {

// store_stats() inside a task, from the shared tables (the driver's counters are its own):
// live objects (not the empty slots handed to workers for their submissions), the blocks of
// final ones, spans some process owns.
StoreStats scan_store(const common::Views& v) {
  StoreStats st;
  st.capacity_bytes = v.header->arena_bytes;
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
  internal::install_worker_runtime(rt, seg.header().session);
  g_stats_views = new common::Views(seg);  // lives until _exit
  internal::install_worker_stats([] { return scan_store(*g_stats_views); });
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
