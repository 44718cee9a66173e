#pragma once
// Every test that starts a runtime ends with nothing left behind: no child process (the test
// binary is a child subreaper, so a worker that outlives its fork server would come back to
// us) and no new /dev/shm entry.
#include <set>
#include <string>
#include <vector>

namespace shmray::test {

/// Live (non-zombie) child processes of this process; reaps zombies.
std::vector<int> live_children();
std::set<std::string> dev_shm_entries();

/// Snapshot at construction; the destructor shuts the runtime down and checks that no child
/// process and no new /dev/shm entry remain.
class NoLeaks {
 public:
  NoLeaks();
  ~NoLeaks();
  NoLeaks(const NoLeaks&) = delete;
  NoLeaks& operator=(const NoLeaks&) = delete;

 private:
  std::set<std::string> shm_before_;
};

}  // namespace shmray::test
