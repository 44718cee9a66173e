#pragma once
// A multi-process test runs its own binary again in a child role (as libcamera's process
// test does): `test_x --shmray-role=NAME [args]` runs the role registered as NAME instead
// of doctest.
#include <functional>
#include <string>
#include <vector>

namespace shmray::test {

using Role = std::function<int(const std::vector<std::string>& args)>;
bool register_role(const std::string& name, Role role);
/// When argv asks for a role, runs it and stores its exit code in `rc`.
bool run_role(int argc, char** argv, int& rc);
/// Path of the running test binary (to start it again as a child).
std::string self_exe();

}  // namespace shmray::test

#define SHMRAY_TEST_ROLE(name, fn) static const bool shmray_role_##fn = ::shmray::test::register_role(name, fn)
