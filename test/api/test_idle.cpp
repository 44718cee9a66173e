// An idle pool burns no CPU: driver threads, fork server and workers all sleep.
// Public headers only (plus /proc and getrusage to measure).
#include <doctest/doctest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <shmray/shmray.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/leak_check.hpp"

using namespace std::chrono_literals;

namespace {

int square(int x) { return x * x; }
SHMRAY_REMOTE(square);

int sleepy(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return ms;
}
SHMRAY_REMOTE(sleepy);

struct ProcStat {
  int ppid = -1;
  double cpu_seconds = 0;  // utime + stime
};

bool read_stat(int pid, ProcStat& out) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(f, line)) return false;
  std::istringstream rest(line.substr(line.rfind(')') + 2));
  std::vector<std::string> fields;
  for (std::string s; rest >> s;) fields.push_back(s);
  // After "pid (comm) ": state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt
  // cmajflt utime stime ...
  if (fields.size() < 13) return false;
  out.ppid = std::stoi(fields[1]);
  const double tick = double(::sysconf(_SC_CLK_TCK));
  out.cpu_seconds = (std::stod(fields[11]) + std::stod(fields[12])) / tick;
  return true;
}

/// CPU seconds used so far by the driver process (all its threads) and, per pid, by every
/// child (the fork server) and grandchild (the workers).
struct CpuSnapshot {
  double driver = 0;
  std::map<int, double> descendants;
};

CpuSnapshot snapshot() {
  CpuSnapshot s;
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  s.driver = double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  const std::vector<int> children = shmray::test::live_children();
  for (int c : children) {
    ProcStat st;
    if (read_stat(c, st)) s.descendants[c] = st.cpu_seconds;
  }
  // Grandchildren: scan /proc for processes whose parent is one of our children.
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    ProcStat st;
    const int pid = std::stoi(name);
    if (!read_stat(pid, st)) continue;
    for (int c : children)
      if (st.ppid == c) s.descendants[pid] = st.cpu_seconds;
  }
  return s;
}

/// CPU seconds the runtime used between two snapshots; fails the test if a process came or went.
double cpu_between(const CpuSnapshot& a, const CpuSnapshot& b) {
  CHECK_MESSAGE(a.descendants.size() == b.descendants.size(), "the set of runtime processes changed");
  double total = b.driver - a.driver;
  for (const auto& entry : b.descendants) {
    // Named copies, not structured bindings: CHECK_MESSAGE's lambda cannot capture a binding before clang 16.
    const auto pid = entry.first;
    const auto cpu = entry.second;
    auto it = a.descendants.find(pid);
    CHECK_MESSAGE(it != a.descendants.end(), "process " << pid << " appeared during the window");
    if (it != a.descendants.end()) total += cpu - it->second;
  }
  return total;
}

// The issue asks for < 1% of one core over 10 s. We measure a 3 s window and allow 3% of one
// core (90 ms): the clock-tick granularity of /proc (10 ms per process) and a busy shared
// machine would make a 1% bound flaky, while a spinning thread would still use ~100%.
constexpr double kWindowSeconds = 3.0;
constexpr double kMaxFraction = 0.03;

}  // namespace

TEST_CASE("Idle.PoolBurnsNoCpu" * doctest::timeout(60)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 2, .object_store_bytes = 64 << 20, .quiet = true});
  std::vector<shmray::ObjectRef<int>> refs;
  for (int i = 0; i < 500; ++i) refs.push_back(shmray::task(square).remote(i));
  CHECK(shmray::get(refs).back() == 499 * 499);
  refs.clear();
  CHECK(shmray::get(shmray::put(std::vector<int>(100000, 1))).size() == 100000);

  std::this_thread::sleep_for(3s);  // let every spin and housekeeping phase end
  const CpuSnapshot before = snapshot();
  // Fork server and two workers at least.
  CHECK(before.descendants.size() >= 3);
  std::this_thread::sleep_for(std::chrono::duration<double>(kWindowSeconds));
  const CpuSnapshot after = snapshot();
  const double used = cpu_between(before, after);
  MESSAGE("runtime CPU over the idle window: " << used * 1000 << " ms (driver " << (after.driver - before.driver) * 1000
                                               << " ms), processes: " << after.descendants.size());
  CHECK(used < kMaxFraction * kWindowSeconds);
  // Still works after idling.
  CHECK(shmray::get(shmray::task(square).remote(9)) == 81);
}

TEST_CASE("Idle.BlockedGetBurnsNoCpu" * doctest::timeout(60)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 2, .object_store_bytes = 64 << 20, .quiet = true});
  CHECK(shmray::get(shmray::task(square).remote(3)) == 9);
  // A task that sleeps well past the window, and a driver thread blocked in get() on it: the
  // waiting driver thread, the sleeping worker and the idle worker use no CPU.
  shmray::ObjectRef<int> r = shmray::task(sleepy).remote(10000);
  int got = 0;
  std::thread getter([&] { got = shmray::get(r); });
  std::this_thread::sleep_for(1s);
  const CpuSnapshot before = snapshot();
  std::this_thread::sleep_for(std::chrono::duration<double>(kWindowSeconds));
  const CpuSnapshot after = snapshot();
  const double used = cpu_between(before, after);
  MESSAGE("runtime CPU with a blocked get: " << used * 1000 << " ms");
  CHECK(used < kMaxFraction * kWindowSeconds);
  getter.join();
  CHECK(got == 10000);
}
