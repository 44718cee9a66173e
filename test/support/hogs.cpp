#include "support/hogs.hpp"

#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>
#include <thread>

namespace shmray::test {

namespace {

// The child's side: only async-signal-safe calls (the parent may have threads).
[[noreturn]] void become_hog(pid_t parent) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(0);  // the parent died before prctl took effect
  ::execl("/bin/sh", "sh", "-c", "while :; do :; done", static_cast<char*>(nullptr));
  volatile unsigned long n = 0;  // no /bin/sh: spin here instead (volatile: a loop with effects)
  for (;;) n = n + 1;
}

}  // namespace

Hogs::Hogs(unsigned count) {
  pids_.reserve(count);
  const pid_t self = ::getpid();
  for (unsigned i = 0; i < count; ++i) {
    const pid_t pid = ::fork();
    if (pid == 0) become_hog(self);
    if (pid < 0) {
      const int err = errno;
      stop();
      throw std::system_error(err, std::generic_category(), "Hogs: fork");
    }
    pids_.push_back(pid);
  }
}

Hogs::~Hogs() { stop(); }

void Hogs::stop() noexcept {
  for (pid_t pid : pids_) ::kill(pid, SIGKILL);
  for (pid_t pid : pids_) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
  pids_.clear();
}

unsigned Hogs::twice_the_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  unsigned n = 0;
  if (::sched_getaffinity(0, sizeof set, &set) == 0) n = static_cast<unsigned>(CPU_COUNT(&set));
  if (n == 0) n = std::thread::hardware_concurrency();
  return 2 * (n == 0 ? 1 : n);
}

}  // namespace shmray::test
