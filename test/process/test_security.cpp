// The segment is an anonymous shared mapping: no name in /dev/shm or /tmp, no file a
// process could open, and another user cannot read it through /proc either.
#include <dirent.h>
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <shmray/shmray.hpp>

#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "support/leak_check.hpp"
#include "support/procs.hpp"

namespace {

std::set<std::string> names_in(const std::string& dir) {
  std::set<std::string> out;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d)) out.insert(e->d_name);
    ::closedir(d);
  }
  return out;
}

// The largest shared mapping of `pid` (the segment): its address range and its name.
std::pair<std::string, std::string> segment_mapping(int pid) {
  std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
  std::string best_range, best_name;
  unsigned long best = 0;
  for (std::string line; std::getline(maps, line);) {
    std::istringstream in(line);
    std::string range, perms, off, dev, inode, name;
    in >> range >> perms >> off >> dev >> inode;
    std::getline(in, name);
    if (perms.size() < 4 || perms[3] != 's') continue;
    const auto dash = range.find('-');
    const unsigned long lo = std::stoul(range.substr(0, dash), nullptr, 16),
                        hi = std::stoul(range.substr(dash + 1), nullptr, 16);
    if (hi - lo > best) best = hi - lo, best_range = range, best_name = name;
  }
  return {
      best_range,
      best_name.substr(best_name.find_first_not_of(' ') == std::string::npos ? 0 : best_name.find_first_not_of(' '))};
}

int run_as_nobody(const std::string& command) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::execlp("setpriv", "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--", "sh", "-c",
             command.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

int identity(int x) { return x; }
SHMRAY_REMOTE(identity);

}  // namespace

TEST_CASE("Security.TheSegmentHasNoName" * doctest::timeout(60)) {
  shmray::test::NoLeaks guard;
  const auto shm_before = names_in("/dev/shm"), tmp_before = names_in("/tmp");
  shmray::init({.num_workers = 2, .object_store_bytes = 64 << 20, .quiet = true});
  CHECK(shmray::get(shmray::task(identity).remote(3)) == 3);
  CHECK(names_in("/dev/shm") == shm_before);
  for (const auto& n : names_in("/tmp"))
    CHECK_MESSAGE((tmp_before.count(n) || n.find("shmray") == std::string::npos), n);
  // In the driver and in a worker the segment is an anonymous shared mapping (shown by the
  // kernel as "/dev/zero (deleted)"), not a file anyone could open.
  for (int pid : {static_cast<int>(::getpid()), shmray::test::workers_of().at(0)}) {
    const auto mapping = segment_mapping(pid);
    // Named copies, not structured bindings: CAPTURE's lambda cannot capture a binding
    // before clang 16.
    const auto& range = mapping.first;
    const std::string name = mapping.second;
    CAPTURE(pid);
    CAPTURE(name);
    CHECK_FALSE(range.empty());
    CHECK((name == "/dev/zero (deleted)" || name.rfind("[anon", 0) == 0 || name.empty()));
    CHECK(name.find("/dev/shm") == std::string::npos);
  }
}

TEST_CASE("Security.AnotherUserCannotReadIt" * doctest::timeout(60)) {
  shmray::test::NoLeaks guard;
  if (::getuid() != 0 || ::system("command -v setpriv >/dev/null 2>&1") != 0) {
    MESSAGE("skipped: needs root and setpriv to act as another user");
    return;
  }
  shmray::init({.num_workers = 1, .object_store_bytes = 16 << 20, .quiet = true});
  CHECK(shmray::get(shmray::task(identity).remote(1)) == 1);
  // The control case: nobody can run a command at all.
  REQUIRE(run_as_nobody("true") == 0);
  for (int pid : {static_cast<int>(::getpid()), shmray::test::workers_of().at(0)}) {
    const auto [range, name] = segment_mapping(pid);
    const std::string proc = "/proc/" + std::to_string(pid);
    CAPTURE(pid);
    CHECK(run_as_nobody("cat " + proc + "/map_files/" + range + " >/dev/null 2>&1") != 0);
    CHECK(run_as_nobody("head -c 16 " + proc + "/mem >/dev/null 2>&1") != 0);
    CHECK(run_as_nobody("ls " + proc + "/fd >/dev/null 2>&1") != 0);
  }
}
