// The library's own threads block every signal: a host that blocks a signal in all of its
// threads after init() and takes it with sigwait() receives it, instead of having it
// delivered (with its default action) to a thread it does not know about. The host is this
// binary again, in the role "sigwait_host".
#include <doctest/doctest.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <shmray/shmray.hpp>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "support/child_role.hpp"
#include "support/leak_check.hpp"

extern char** environ;

namespace {

using namespace std::chrono_literals;

int twice(int x) { return 2 * x; }
SHMRAY_REMOTE(twice);

// init(), then block SIGTERM (in its only thread of its own) and wait for it with sigwait.
int sigwait_host(const std::vector<std::string>&) {
  shmray::init({.num_workers = 2, .object_store_bytes = 16 << 20, .quiet = true});
  if (shmray::get(shmray::task(twice).remote(21), 30s) != 42) return 3;
  sigset_t term;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  ::pthread_sigmask(SIG_BLOCK, &term, nullptr);
  std::printf("READY\n");
  std::fflush(stdout);
  int sig = 0;
  if (::sigwait(&term, &sig) != 0 || sig != SIGTERM) return 4;
  if (shmray::get(shmray::task(twice).remote(4), 30s) != 8) return 5;  // the pool is untouched
  shmray::shutdown();
  return 0;
}
SHMRAY_TEST_ROLE("sigwait_host", sigwait_host);

// Reads the child's stdout until "READY" (false after `limit`).
bool wait_ready(int fd, std::chrono::milliseconds limit) {
  std::string got;
  const auto until = std::chrono::steady_clock::now() + limit;
  while (got.find("READY") == std::string::npos) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char buf[256];
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) return false;
    got.append(buf, static_cast<std::size_t>(n));
  }
  return true;
}

// waitpid with a deadline: the status, or -1 (then the child is killed and reaped).
int wait_exit(pid_t pid, std::chrono::milliseconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  int status = 0;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > until) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(5ms);
  }
  return status;
}

}  // namespace

TEST_CASE("HostSignals.ASignalTheHostBlocksAndSigwaitsForReachesIt" * doctest::timeout(120)) {
  shmray::test::NoLeaks guard;
  for (int round = 0; round < 3; ++round) {
    CAPTURE(round);
    int out[2];
    REQUIRE(::pipe(out) == 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&fa, out[0]);
    posix_spawn_file_actions_addclose(&fa, out[1]);
    const std::string exe = shmray::test::self_exe();
    char role[] = "--shmray-role=sigwait_host";
    char* argv[] = {const_cast<char*>(exe.c_str()), role, nullptr};
    pid_t pid = 0;
    REQUIRE(::posix_spawn(&pid, exe.c_str(), &fa, nullptr, argv, environ) == 0);
    posix_spawn_file_actions_destroy(&fa);
    ::close(out[1]);
    const bool ready = wait_ready(out[0], 30s);
    CHECK(ready);
    if (ready) ::kill(pid, SIGTERM);
    const int status = wait_exit(pid, 30s);
    ::close(out[0]);
    CAPTURE(status);
    CHECK(WIFEXITED(status));  // not killed by SIGTERM
    CHECK(WEXITSTATUS(status) == 0);
  }
}
