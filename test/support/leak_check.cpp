#include "support/leak_check.hpp"

#include "support/procs.hpp"

#include <dirent.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include <doctest/doctest.h>

#include "shmray/api.hpp"

namespace shmray::test {

std::vector<int> live_children() {
  while (::waitpid(-1, nullptr, WNOHANG) > 0) {
  }
  std::vector<int> out;
  const int self = ::getpid();
  for (const ProcInfo& p : all_processes())
    if (p.ppid == self && p.state != 'Z') out.push_back(p.pid);
  return out;
}

std::set<std::string> dev_shm_entries() {
  std::set<std::string> out;
  if (DIR* d = ::opendir("/dev/shm")) {
    while (dirent* e = ::readdir(d))
      if (e->d_name[0] != '.') out.insert(e->d_name);
    ::closedir(d);
  }
  return out;
}

NoLeaks::NoLeaks() : shm_before_(dev_shm_entries()) {}

NoLeaks::~NoLeaks() {
  shmray::shutdown();
  // shutdown() reaps the fork server, which reaps its workers first: nothing may be left.
  auto children = live_children();
  CHECK_MESSAGE(children.empty(), "child processes left after shutdown: " << children.size());
  std::set<std::string> now = dev_shm_entries();
  for (const auto& name : now) CHECK_MESSAGE(shm_before_.count(name) == 1, "/dev/shm entry left: " << name);
}

}  // namespace shmray::test
