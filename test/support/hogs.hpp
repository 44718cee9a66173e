#pragma once
// CPU hogs: busy-loop processes that oversubscribe the machine, for the loaded bench rows and
// the tests that check the pool still works when every CPU is taken. Each hog is a child of
// this process (fork, then exec of /bin/sh running `while :; do :; done`: exec drops every
// descriptor marked close-on-exec, so a hog holds none of the pool's), killed with SIGKILL and
// reaped by the destructor, so an exception cannot leave one spinning. PR_SET_PDEATHSIG kills
// them too if this process dies first (a watchdog's _exit, a crash).
#include <sys/types.h>

#include <vector>

namespace shmray::test {

class Hogs {
 public:
  /// Starts `count` hogs. Throws std::system_error when a fork fails (the ones started are
  /// reaped first). Start them from the thread that will outlive them: the death signal
  /// follows the forking thread, not the process.
  explicit Hogs(unsigned count);
  ~Hogs();
  Hogs(const Hogs&) = delete;
  Hogs& operator=(const Hogs&) = delete;

  /// SIGKILL every hog and reap it; idempotent.
  void stop() noexcept;
  const std::vector<pid_t>& pids() const { return pids_; }

  /// 2 x the CPUs this process may run on (sched_getaffinity; hardware_concurrency as a
  /// fallback): enough that every CPU has a hog queued behind whatever else runs.
  static unsigned twice_the_cpus();

 private:
  std::vector<pid_t> pids_;
};

}  // namespace shmray::test
