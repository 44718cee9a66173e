#pragma once
// Running this test binary again in a child role (child_role.hpp) and checking what it left.
#include <chrono>
#include <string>

namespace shmray::test {

/// Runs this binary in `role` with stdout on `out_fd` (-1: /dev/null) and returns its wait
/// status; kills it after `limit` (the status then says SIGKILL).
int run_role_status(const std::string& role, int out_fd = -1, std::chrono::seconds limit = std::chrono::seconds(60));
/// run_role_status, then checks that the role exited 0 and left no process (this binary is
/// a subreaper: orphans come back to it) and no /dev/shm entry behind.
void check_role(const std::string& role, int out_fd = -1, std::chrono::seconds limit = std::chrono::seconds(60));

}  // namespace shmray::test
