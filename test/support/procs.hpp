#pragma once
// Finding the pool's processes from a test: the fork server is a child of the driver named
// "shmray-forksrv", the workers are its children named "shmray-worker".
#include <string>
#include <vector>

namespace shmray::test {

struct ProcInfo {
  int pid = 0;
  int ppid = 0;
  char state = 0;
  std::string comm;
};
std::vector<ProcInfo> all_processes();
/// The fork server of the runtime started by process `driver` (default: this one), or 0.
int fork_server_of(int driver = 0);
/// Live workers of the runtime started by process `driver` (default: this one).
std::vector<int> workers_of(int driver = 0);
/// True while `pid` exists and is not a zombie.
bool process_alive(int pid);
/// Marker files in a fresh directory under /tmp, removed with the object.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};
bool file_exists(const std::string& path);
std::vector<std::string> read_lines(const std::string& path);
void append_line(const std::string& path, const std::string& line);
/// Waits (up to 60 s) until a marker file holds a whole line: it exists a moment before
/// its line is written.
void wait_file(const std::string& path);

}  // namespace shmray::test
