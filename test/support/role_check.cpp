#include "support/role_check.hpp"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

#include "support/child_role.hpp"
#include "support/leak_check.hpp"

namespace shmray::test {

using Clock = std::chrono::steady_clock;

int run_role_status(const std::string& role, int out_fd, std::chrono::seconds limit) {
  const std::string exe = self_exe(), arg = "--shmray-role=" + role;
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int fd = out_fd >= 0 ? out_fd : ::open("/dev/null", O_WRONLY);
    ::dup2(fd, STDOUT_FILENO);
    ::execl(exe.c_str(), exe.c_str(), arg.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  const auto until = Clock::now() + limit;
  int status = 0;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (Clock::now() > until) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return status;
}

void check_role(const std::string& role, int out_fd, std::chrono::seconds limit) {
  const auto shm_before = dev_shm_entries();
  const int status = run_role_status(role, out_fd, limit);
  CAPTURE(role);
  CAPTURE(status);
  CHECK_FALSE(WIFSIGNALED(status));  // SIGPIPE (13), or SIGKILL for a hang
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  const auto until = Clock::now() + std::chrono::seconds(5);
  while (!live_children().empty() && Clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  CHECK(live_children().empty());
  CHECK(dev_shm_entries() == shm_before);
}

}  // namespace shmray::test
