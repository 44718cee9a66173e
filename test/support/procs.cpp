#include "support/procs.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace shmray::test {

std::vector<ProcInfo> all_processes() {
  std::vector<ProcInfo> out;
  DIR* d = ::opendir("/proc");
  if (!d) return out;
  while (dirent* e = ::readdir(d)) {
    const int pid = std::atoi(e->d_name);
    if (pid <= 0) continue;
    std::ifstream f("/proc/" + std::string(e->d_name) + "/stat");
    std::string line;
    if (!std::getline(f, line)) continue;
    const auto lp = line.find('('), rp = line.rfind(')');
    if (lp == std::string::npos || rp == std::string::npos) continue;
    ProcInfo p;
    p.pid = pid;
    p.comm = line.substr(lp + 1, rp - lp - 1);
    std::istringstream rest(line.substr(rp + 2));
    rest >> p.state >> p.ppid;
    out.push_back(p);
  }
  ::closedir(d);
  return out;
}

int fork_server_of(int driver) {
  if (driver == 0) driver = ::getpid();
  for (const ProcInfo& p : all_processes())
    if (p.ppid == driver && p.comm == "shmray-forksrv" && p.state != 'Z') return p.pid;
  return 0;
}

std::vector<int> workers_of(int driver) {
  std::vector<int> out;
  const int fs = fork_server_of(driver);
  if (!fs) return out;
  for (const ProcInfo& p : all_processes())
    if (p.ppid == fs && p.comm == "shmray-worker" && p.state != 'Z') out.push_back(p.pid);
  return out;
}

bool process_alive(int pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(f, line)) return false;
  const auto rp = line.rfind(')');
  return rp != std::string::npos && rp + 2 < line.size() && line[rp + 2] != 'Z';
}

TempDir::TempDir() {
  char tmpl[] = "/tmp/shmray-test-XXXXXX";
  path_ = ::mkdtemp(tmpl);
}
TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

bool file_exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

std::vector<std::string> read_lines(const std::string& path) {
  std::vector<std::string> out;
  std::ifstream f(path);
  for (std::string l; std::getline(f, l);)
    if (!l.empty()) out.push_back(l);
  return out;
}

void append_line(const std::string& path, const std::string& line) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return;
  const std::string l = line + "\n";
  (void)!::write(fd, l.data(), l.size());  // one write: lines of concurrent writers do not mix
  ::close(fd);
}

void wait_file(const std::string& path) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (read_lines(path).empty() && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

}  // namespace shmray::test
