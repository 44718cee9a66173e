// doctest entry of every test binary: a child role first (see child_role.hpp), then doctest.
// The binary is a child subreaper so that any process a test leaves behind is seen by the
// leak checks instead of vanishing into init.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <map>

#include "support/child_role.hpp"

namespace shmray::test {

namespace {
std::map<std::string, Role>& roles() {
  static std::map<std::string, Role> r;
  return r;
}
}  // namespace

bool register_role(const std::string& name, Role role) {
  roles()[name] = std::move(role);
  return true;
}

bool run_role(int argc, char** argv, int& rc) {
  if (argc < 2) return false;
  const std::string a = argv[1];
  const std::string prefix = "--shmray-role=";
  if (a.rfind(prefix, 0) != 0) return false;
  auto it = roles().find(a.substr(prefix.size()));
  if (it == roles().end()) {
    rc = 2;
    return true;
  }
  rc = it->second(std::vector<std::string>(argv + 2, argv + argc));
  return true;
}

std::string self_exe() {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

}  // namespace shmray::test

int main(int argc, char** argv) {
  int rc = 0;
  if (shmray::test::run_role(argc, argv, rc)) return rc;
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  doctest::Context ctx(argc, argv);
  return ctx.run();
}
