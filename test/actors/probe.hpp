#pragma once
// Probe: a counter actor whose methods can also stay running until the test lets them go
// (a gate file), say when they started (a marker file with one line), report their
// process's pid (for the test to SIGKILL), or run until cancelled. Included by one file of
// each test executable (it registers its methods).
#include <unistd.h>

#include <shmray/shmray.hpp>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "api/gate.hpp"
#include "support/procs.hpp"

namespace actor_test {

class Probe {
 public:
  explicit Probe(int start) : n_(start) {}
  int add(int k) { return n_ += k; }
  int value() const { return n_; }
  int pid() const { return ::getpid(); }
  // Marks `started`, then adds `k` once `gate` opens.
  int gated(std::string started, std::string gate, int k) {
    shmray::test::append_line(started, "started");
    shmray_test::wait_for_gate(gate, std::chrono::seconds(120));
    return n_ += k;
  }
  // Marks `started` and never returns on its own (only a kill ends it; it throws after 120 s).
  int hang(std::string started) {
    shmray::test::append_line(started, "started");
    shmray_test::wait_for_gate(started + ".never", std::chrono::seconds(120));
    return -1;
  }
  // The first run (no marker yet) hangs like hang(); a run after it returns the state at once.
  int hang_once(std::string marker) {
    if (shmray::test::file_exists(marker)) return n_;
    return hang(marker);
  }
  // Marks `started`, then runs until cancel() flags it.
  int until_cancelled(std::string started) {
    shmray::test::append_line(started, "started");
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (!shmray::cancelled() && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return shmray::cancelled() ? -2 : -1;
  }

 private:
  int n_;
};
inline Probe* make_probe(int start) { return new Probe(start); }

/// Polls until `pid` is gone (30 s at most).
inline bool eventually_dead(int pid) {
  return shmray_test::eventually([pid] { return !shmray::test::process_alive(pid); }, std::chrono::seconds(30));
}

/// The actor processes of this process's pool: children of its fork server named by run_actor.
inline std::vector<int> actor_pids() {
  std::vector<int> out;
  const int fs = shmray::test::fork_server_of();
  if (!fs) return out;
  for (const auto& p : shmray::test::all_processes())
    if (p.ppid == fs && p.comm == "shmray-actor" && p.state != 'Z') out.push_back(p.pid);
  return out;
}

}  // namespace actor_test

SHMRAY_REMOTE(actor_test::make_probe);
SHMRAY_REMOTE(&actor_test::Probe::add);
SHMRAY_REMOTE(&actor_test::Probe::value);
SHMRAY_REMOTE(&actor_test::Probe::pid);
SHMRAY_REMOTE(&actor_test::Probe::gated);
SHMRAY_REMOTE(&actor_test::Probe::hang);
SHMRAY_REMOTE(&actor_test::Probe::hang_once);
SHMRAY_REMOTE(&actor_test::Probe::until_cancelled);
