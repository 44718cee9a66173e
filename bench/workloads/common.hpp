#pragma once
// What the workloads share: the task bodies (remote functions, registered once, in
// common.cpp), the task-side file helpers, and the driver-side helpers (repetitions, pools,
// process watches, temporary directories, child programs).
#include <cxxabi.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <shmray/shmray.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <typeinfo>
#include <vector>

#include "../bench.hpp"
#include "../proc.hpp"
#include "support/procs.hpp"

namespace bench {

// ============================================================================ task bodies
// Registered with SHMRAY_REMOTE in common.cpp (by name, once per process): call them from
// any workload file through these declarations.
/// noop(x): returns its argument (peers.py noop).
int noop(int x);

/// sleep0(): peers.py calls time.sleep(0) and returns 0; in C++ there is nothing to do.
int sleep0();

/// Sums like numpy's a.sum(): several accumulators (numpy unrolls its pairwise sum), so the
/// loop runs at memory speed instead of waiting on one chain of dependent adds. Exact here:
/// every partial sum is an integer below 2^53.
double sum_doubles(const double* p, std::size_t n);

/// make_array(n): 0, 1, ..., n-1 as doubles (numpy arange), n*8 bytes made inside the task,
/// written once, straight into the object store (a Buffer: the result needs no copy).
shmray::Buffer<double> make_array(std::int64_t n);

/// The same as a plain std::vector (written once with reserve/push_back): storing the
/// result copies it into the store.
std::vector<double> make_array_vector(std::int64_t n);

/// sum_array(a): the sum of a, read where it lies in the store (a View parameter: no copy).
double sum_array(shmray::View<std::vector<double>> a);

/// The same with a const& parameter: the worker deserializes a private copy first.
double sum_array_copy(const std::vector<double>& a);

/// sleep_then_return(i, unit): sleeps (10 - i) * unit seconds, returns i.
int sleep_then_return(int i, double unit);

/// sleep_s(s) of peers.py (renamed here: sleep_s is the driver-side helper further down):
/// sleeps s seconds, returns s.
double sleep_seconds(double s);

// ---- task-side file helpers (the cancel and crash tasks talk to the driver through files,
// as peers.py's do)

/// CLOCK_MONOTONIC in ns: one clock for every process of the machine, so a task can stamp an
/// event (its crash, its return) and the driver compare the stamp with its own Clock::now().
std::int64_t mono_ns();
std::int64_t mono_ns(Clock::time_point t);

/// Appends `line` + '\n' with one write(2) on an O_APPEND descriptor.
void append_line(const std::string& path, const std::string& line);

/// Creates (or truncates) `path` holding `text`.
void write_text(const std::string& path, const std::string& text);

/// The file's text; empty when it does not exist.
std::string read_text(const std::string& path);

std::vector<std::string> lines_of(const std::string& path);

using shmray::test::file_exists;  // support/procs.hpp (shared with test/)

/// os.utime(path): mtime (and atime) := now.
void touch(const std::string& path);

/// st_mtime in ns; -1 when the file does not exist.
std::int64_t mtime_ns(const std::string& path);

/// fib(n) (peers.py fib_dask): for n >= 2 submits fib(n-1) and fib(n-2) as tasks and gets
/// both (peers: client.gather([a, b])); the waiting task gives its worker slot up meanwhile.
int fib(int n);

/// long_task (peers.py long_task): "sleeps total_s" as 10 ms steps. Appends its pid to the
/// start file when it begins (peers write the pid; one line per run, so a re-run would show),
/// touches the heartbeat file at every step, returns early when the stop file appears
/// (clean-up only) and then writes "done <why> <CLOCK_MONOTONIC ns>" to the done file.
/// With `cooperative` (cancel_running_s_coop, ours) it also returns at the first step that
/// sees shmray::cancelled(): checked right after each 10 ms sleep, before the heartbeat, so a
/// cancelled task touches the heartbeat no more.
std::string long_task(std::string start_path, std::string hb_path, std::string stop_path, std::string done_path,
                      double total_s, bool cooperative);

/// crash_task (peers.py crash_task): appends "<pid> <CLOCK_MONOTONIC ns>" to the marker file
/// (one line per attempt), then ends its process as os._exit(1) does.
int crash_task(std::string marker_path);

/// crash_once (ours, worker_crash_retry_s): crash_task on its first attempt (marker empty),
/// returns 7 on the next one; each attempt appends "<pid> <ns> crash|ok".
int crash_once(std::string marker_path);

/// N noop(i) submitted, then get(refs); the seconds that took (tasks_async_per_s,
/// worker_rss_mib, syscalls_per_task). Defined in common.cpp.
double submit_then_get(int n);

// ============================================================================ helpers
constexpr std::int64_t kLargeBytes = 100ll * 1024 * 1024;                      // 104857600
constexpr std::int64_t kLargeLen = kLargeBytes / 8;                            // 13107200 doubles
constexpr double kLargeSum = double(kLargeLen) * double(kLargeLen - 1) / 2.0;  // 85899338956800, exact

inline void check(bool ok, const std::string& what) {
  if (!ok) throw CheckFailed("check failed: " + what);
}

/// Untimed warm-ups, then timed repetitions while `reps` says so. `once()` runs one
/// repetition and returns the seconds of its timed window; `figure(dt)` is the value reported
/// for it (dt itself, or count / dt for rates).
template <class Once, class Figure>
std::vector<double> repeat(Reps reps, int warmups, Once&& once, Figure&& figure) {
  for (int i = 0; i < warmups; ++i) (void)once();
  std::vector<double> values;
  while (reps.more()) {
    const double dt = once();
    reps.add(dt);
    values.push_back(figure(dt));
  }
  return values;
}
inline const auto seconds = [](double dt) { return dt; };
inline auto per_second(double count) {
  return [count](double dt) { return count / dt; };
}

inline void sleep_s(double s) { std::this_thread::sleep_for(std::chrono::duration<double>(s)); }

/// init() in the constructor, shutdown() in the destructor: a workload's own pool.
struct OwnPool {
  /// `timeline`: Options::timeline (empty: off); written by the destructor's shutdown().
  OwnPool(unsigned workers, std::size_t store_bytes, const std::string& timeline = {}) {
    start_warm_pool(workers, store_bytes, timeline);
  }
  ~OwnPool() { shmray::shutdown(); }
  OwnPool(const OwnPool&) = delete;
  OwnPool& operator=(const OwnPool&) = delete;
};

inline shmray::Options pool_options(unsigned workers, std::size_t store_bytes) {
  return {.num_workers = workers, .object_store_bytes = store_bytes, .quiet = true};
}

/// The pool's processes: the fork server (our child) and its workers.
struct PoolPids {
  pid_t fork_server = 0;
  std::vector<pid_t> workers;
};
inline PoolPids pool_pids(unsigned expected_workers) {
  PoolPids p;
  const auto servers = proc::children(::getpid(), "shmray-forksrv");
  check(servers.size() == 1,
        "one fork server (a child of the driver named shmray-forksrv); found " + std::to_string(servers.size()));
  p.fork_server = servers[0];
  p.workers = proc::children(p.fork_server, "shmray-worker");
  check(p.workers.size() == expected_workers, "the fork server has " + std::to_string(expected_workers) +
                                                  " shmray-worker children; found " + std::to_string(p.workers.size()));
  return p;
}

/// Demangled dynamic type of an exception ("shmray::WorkerCrashedError").
inline std::string type_name(const std::exception& e) {
  int status = 0;
  char* name = abi::__cxa_demangle(typeid(e).name(), nullptr, nullptr, &status);
  std::string s = status == 0 && name ? name : typeid(e).name();
  std::free(name);
  return s;
}

inline double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}
inline std::chrono::nanoseconds as_ns(double s) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::duration<double>(s));
}

/// peers.py _wait_for: polls `pred` every `step_s` until it holds or `limit_s` passed.
template <class Pred>
bool wait_for(Pred&& pred, double limit_s, double step_s = 0.001) {
  const auto deadline = Clock::now() + as_ns(limit_s);
  while (Clock::now() < deadline) {
    if (pred()) return true;
    sleep_s(step_s);
  }
  return pred();
}

/// A fresh directory under /tmp for one repetition's files, removed with everything in it.
struct TempDir {
  std::string path;
  explicit TempDir(const std::string& what) {
    std::string t = "/tmp/shmray_bench_" + what + "_XXXXXX";
    if (!::mkdtemp(t.data())) throw std::runtime_error("mkdtemp: " + std::string(std::strerror(errno)));
    path = t;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const char* name) const { return path + "/" + name; }
};

/// "<pid> <ns> ..." lines of a marker file.
struct Attempt {
  pid_t pid = 0;
  std::int64_t ns = 0;
  std::string tag;
};
inline std::vector<Attempt> attempts_of(const std::string& path) {
  std::vector<Attempt> out;
  for (const std::string& line : lines_of(path)) {
    std::istringstream in(line);
    Attempt a;
    long pid = 0;
    in >> pid >> a.ns >> a.tag;
    a.pid = static_cast<pid_t>(pid);
    out.push_back(a);
  }
  return out;
}

/// The moment a process ends: a thread blocked in poll() on its pidfd (no polling, no CPU)
/// stamps the time the kernel reports the exit. Any process we may signal, not only children.
class DeathWatch {
 public:
  explicit DeathWatch(pid_t pid) {
    pidfd_ = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    wake_ = ::eventfd(0, EFD_CLOEXEC);
    if (pidfd_ < 0 || wake_ < 0) return;
    thread_ = std::thread([this] {
      pollfd p[2] = {{pidfd_, POLLIN, 0}, {wake_, POLLIN, 0}};
      while (::poll(p, 2, -1) < 0 && errno == EINTR) {
      }
      if (p[0].revents) {
        at_ = Clock::now();
        ended_.store(true, std::memory_order_release);
      }
    });
  }
  ~DeathWatch() {
    if (thread_.joinable()) {
      const std::uint64_t one = 1;
      (void)!::write(wake_, &one, sizeof one);
      thread_.join();
    }
    if (pidfd_ >= 0) ::close(pidfd_);
    if (wake_ >= 0) ::close(wake_);
  }
  DeathWatch(const DeathWatch&) = delete;
  DeathWatch& operator=(const DeathWatch&) = delete;
  bool watching() const { return thread_.joinable(); }
  bool ended() const { return ended_.load(std::memory_order_acquire); }
  std::optional<Clock::time_point> ended_at() const {
    if (!ended()) return std::nullopt;
    return at_;
  }

 private:
  int pidfd_ = -1, wake_ = -1;
  std::thread thread_;
  std::atomic<bool> ended_{false};
  Clock::time_point at_{};
};

/// The fork server's live "shmray-worker" children, sampled every ~1 ms from a thread; each
/// change of the set is kept with the time it was seen (an upper bound, within one period, of
/// when it happened).
class WorkerWatch {
 public:
  struct Change {
    Clock::time_point t;
    std::vector<pid_t> live;  // sorted
  };
  explicit WorkerWatch(pid_t fork_server) : fork_server_(fork_server) {
    sample();
    thread_ = std::thread([this] {
      while (!stop_.load(std::memory_order_relaxed)) {
        sleep_s(0.001);
        sample();
      }
    });
  }
  ~WorkerWatch() { stop(); }
  WorkerWatch(const WorkerWatch&) = delete;
  WorkerWatch& operator=(const WorkerWatch&) = delete;
  void stop() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
  }
  std::vector<Change> changes() const {
    std::lock_guard lock(mu_);
    return changes_;
  }
  std::vector<pid_t> live() const {
    std::lock_guard lock(mu_);
    return changes_.back().live;
  }
  std::size_t peak() const {
    std::lock_guard lock(mu_);
    std::size_t n = 0;
    for (const Change& c : changes_) n = std::max(n, c.live.size());
    return n;
  }

 private:
  void sample() {
    std::vector<pid_t> live;
    for (pid_t p : proc::children_fast(fork_server_))
      if (proc::alive_named(p, "shmray-worker")) live.push_back(p);
    std::sort(live.begin(), live.end());
    const auto t = Clock::now();
    std::lock_guard lock(mu_);
    if (changes_.empty() || changes_.back().live != live) changes_.push_back({t, std::move(live)});
  }

  pid_t fork_server_;
  mutable std::mutex mu_;
  std::vector<Change> changes_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

inline pid_t fork_server_pid() {
  const auto servers = proc::children(::getpid(), "shmray-forksrv");
  check(servers.size() == 1,
        "one fork server (a child of the driver named shmray-forksrv); found " + std::to_string(servers.size()));
  return servers[0];
}

/// A program run as our child, by posix_spawnp (this process has threads: no fork), with
/// stdin from /dev/null and stdout + stderr into `log_path`. stop() (or the destructor) ends
/// and reaps it: nothing is left behind.
class ChildProgram {
 public:
  ChildProgram(const std::vector<std::string>& argv, const std::string& log_path) : log_(log_path) {
    posix_spawn_file_actions_t fa;
    ::posix_spawn_file_actions_init(&fa);
    ::posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    ::posix_spawn_file_actions_addopen(&fa, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::posix_spawn_file_actions_adddup2(&fa, 1, 2);
    posix_spawnattr_t attr;
    ::posix_spawnattr_init(&attr);
    sigset_t none, defaults;
    sigemptyset(&none);
    sigemptyset(&defaults);
    for (int sig : {SIGINT, SIGTERM, SIGALRM, SIGPIPE, SIGCHLD}) sigaddset(&defaults, sig);
    ::posix_spawnattr_setsigmask(&attr, &none);
    ::posix_spawnattr_setsigdefault(&attr, &defaults);
    ::posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    error_ = ::posix_spawnp(&pid_, argv[0].c_str(), &fa, &attr, args.data(), environ);
    ::posix_spawnattr_destroy(&attr);
    ::posix_spawn_file_actions_destroy(&fa);
    if (error_ != 0) pid_ = -1;
  }
  ~ChildProgram() { stop(SIGKILL, 5.0); }
  ChildProgram(const ChildProgram&) = delete;
  ChildProgram& operator=(const ChildProgram&) = delete;

  int spawn_error() const { return error_; }
  pid_t pid() const { return pid_; }
  /// Still running? Reaps it (and keeps its status) when it has ended.
  bool running() {
    if (pid_ <= 0 || reaped_) return false;
    if (::waitpid(pid_, &status_, WNOHANG) == pid_) reaped_ = true;
    return !reaped_;
  }
  /// Sends `sig`, waits up to `limit_s` for the end, then SIGKILL; returns the wait status.
  int stop(int sig, double limit_s) {
    if (pid_ <= 0 || reaped_) return status_;
    ::kill(pid_, sig);
    if (!wait_for([&] { return !running(); }, limit_s)) {
      ::kill(pid_, SIGKILL);
      while (::waitpid(pid_, &status_, 0) < 0 && errno == EINTR) {
      }
      reaped_ = true;
    }
    return status_;
  }
  /// The first lines of its output (for error reports).
  std::string log_head() const {
    std::string s = read_text(log_);
    if (s.size() > 400) s.resize(400);
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
  }

 private:
  std::string log_;
  pid_t pid_ = -1;
  int error_ = 0;
  int status_ = 0;
  bool reaped_ = false;
};

/// median [min-max] n=k of a list of seconds, formatted as the table does.
inline std::string summary_text(const std::vector<double>& v) {
  if (v.empty()) return "-";
  return short_cell(Result::ok(v));
}

}  // namespace bench
