#pragma once
// Deterministic synchronisation between a test and its tasks: a Gate is a marker file the
// test creates when it wants waiting tasks to go on. A task calls wait_for_gate(path), which
// returns once the file exists (checking every 2 ms). It gives up with an exception after
// `give_up` so that a broken test fails instead of hanging; tests never rely on that limit.
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>

namespace shmray_test {

class Gate {
 public:
  Gate() {
    static std::atomic<int> counter{0};
    path_ = "/tmp/shmray-api-gate-" + std::to_string(::getpid()) + "-" + std::to_string(counter.fetch_add(1));
    ::unlink(path_.c_str());
  }
  ~Gate() { ::unlink(path_.c_str()); }
  Gate(const Gate&) = delete;
  Gate& operator=(const Gate&) = delete;

  const std::string& path() const { return path_; }
  /// Lets every task waiting on this gate (now or later) go on.
  void open() const {
    const int fd = ::open(path_.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    if (fd < 0) throw std::runtime_error("Gate: cannot create " + path_);
    ::close(fd);
  }

 private:
  std::string path_;
};

/// Blocks until the gate at `path` is open; throws after `give_up`.
inline void wait_for_gate(const std::string& path, std::chrono::seconds give_up = std::chrono::seconds(60)) {
  const auto until = std::chrono::steady_clock::now() + give_up;
  while (::access(path.c_str(), F_OK) != 0) {
    if (std::chrono::steady_clock::now() > until) throw std::runtime_error("gate " + path + " never opened");
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

/// Polls `pred` until it holds or `limit` passes; returns whether it held. For state the
/// runtime updates asynchronously (frees of task results), never as a substitute for a gate.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = std::chrono::milliseconds(5000)) {
  const auto until = std::chrono::steady_clock::now() + limit;
  for (;;) {
    if (pred()) return true;
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

}  // namespace shmray_test
