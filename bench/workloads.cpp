// The workloads. Each one is defined in /work/shared/peers/README.md ("Workloads"); the
// comment above each function states its timed window, as the README does. Task bodies are
// the C++ counterparts of peers.py's top-level task functions (same work, same sizes).
//
// To add a workload: write `Result name(const Context&)` below and add one row to the table
// in registry() at the end of this file.
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

#include "bench.hpp"
#include "proc.hpp"

namespace bench {

// ============================================================================ task bodies
namespace {

/// noop(x): returns its argument (peers.py noop).
int noop(int x) { return x; }
SHMRAY_REMOTE(noop);

/// sleep0(): peers.py calls time.sleep(0) and returns 0; in C++ there is nothing to do.
int sleep0() { return 0; }
SHMRAY_REMOTE(sleep0);

/// Sums like numpy's a.sum(): several accumulators (numpy unrolls its pairwise sum), so the
/// loop runs at memory speed instead of waiting on one chain of dependent adds. Exact here:
/// every partial sum is an integer below 2^53.
double sum_doubles(const double* p, std::size_t n) {
  double a = 0, b = 0, c = 0, d = 0;
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    a += p[i];
    b += p[i + 1];
    c += p[i + 2];
    d += p[i + 3];
  }
  for (; i < n; ++i) a += p[i];
  return (a + b) + (c + d);
}

/// make_array(n): 0, 1, ..., n-1 as doubles (numpy arange), n*8 bytes made inside the task,
/// written once, straight into the object store (a Buffer: the result needs no copy).
shmray::Buffer<double> make_array(std::int64_t n) {
  shmray::Buffer<double> a(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) a[std::size_t(i)] = double(i);
  return a;
}
SHMRAY_REMOTE(make_array);

/// The same as a plain std::vector (written once with reserve/push_back): storing the
/// result copies it into the store.
std::vector<double> make_array_vector(std::int64_t n) {
  std::vector<double> a;
  a.reserve(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) a.push_back(double(i));
  return a;
}
SHMRAY_REMOTE(make_array_vector);

/// sum_array(a): the sum of a, read where it lies in the store (a View parameter: no copy).
double sum_array(shmray::View<std::vector<double>> a) { return sum_doubles(a.data(), a.size()); }
SHMRAY_REMOTE(sum_array);

/// The same with a const& parameter: the worker deserializes a private copy first.
double sum_array_copy(const std::vector<double>& a) { return sum_doubles(a.data(), a.size()); }
SHMRAY_REMOTE(sum_array_copy);

/// sleep_then_return(i, unit): sleeps (10 - i) * unit seconds, returns i.
int sleep_then_return(int i, double unit) {
  std::this_thread::sleep_for(std::chrono::duration<double>((10 - i) * unit));
  return i;
}
SHMRAY_REMOTE(sleep_then_return);

/// sleep_s(s) of peers.py (renamed here: sleep_s is the driver-side helper further down):
/// sleeps s seconds, returns s.
double sleep_seconds(double s) {
  std::this_thread::sleep_for(std::chrono::duration<double>(s));
  return s;
}
SHMRAY_REMOTE(sleep_seconds);

// ---- task-side file helpers (the cancel and crash tasks talk to the driver through files,
// as peers.py's do)

/// CLOCK_MONOTONIC in ns: one clock for every process of the machine, so a task can stamp an
/// event (its crash, its return) and the driver compare the stamp with its own Clock::now().
std::int64_t mono_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}
std::int64_t mono_ns(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

/// Appends `line` + '\n' with one write(2) on an O_APPEND descriptor.
void append_line(const std::string& path, const std::string& line) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error("open " + path + ": " + std::strerror(errno));
  const std::string text = line + "\n";
  const ssize_t n = ::write(fd, text.data(), text.size());
  ::close(fd);
  if (n != static_cast<ssize_t>(text.size())) throw std::runtime_error("write " + path + " failed");
}

/// Creates (or truncates) `path` holding `text`.
void write_text(const std::string& path, const std::string& text) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error("open " + path + ": " + std::strerror(errno));
  const ssize_t n = text.empty() ? 0 : ::write(fd, text.data(), text.size());
  ::close(fd);
  if (n != static_cast<ssize_t>(text.size())) throw std::runtime_error("write " + path + " failed");
}

/// The file's text; empty when it does not exist.
std::string read_text(const std::string& path) {
  std::ifstream f(path);
  std::ostringstream ss;
  if (f) ss << f.rdbuf();
  return ss.str();
}

std::vector<std::string> lines_of(const std::string& path) {
  std::vector<std::string> out;
  std::istringstream in(read_text(path));
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(line);
  return out;
}

bool file_exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

/// os.utime(path): mtime (and atime) := now.
void touch(const std::string& path) { ::utimensat(AT_FDCWD, path.c_str(), nullptr, 0); }

/// st_mtime in ns; -1 when the file does not exist.
std::int64_t mtime_ns(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return -1;
  return std::int64_t(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

/// fib(n) (peers.py fib_dask): for n >= 2 submits fib(n-1) and fib(n-2) as tasks and gets
/// both (peers: client.gather([a, b])); the waiting task gives its worker slot up meanwhile.
int fib(int n) {
  if (n < 2) return n;
  std::vector<shmray::ObjectRef<int>> parts;
  parts.push_back(shmray::task(fib).remote(n - 1));
  parts.push_back(shmray::task(fib).remote(n - 2));
  const std::vector<int> v = shmray::get(parts);
  return v[0] + v[1];
}
SHMRAY_REMOTE(fib);

/// long_task (peers.py long_task): "sleeps total_s" as 10 ms steps. Appends its pid to the
/// start file when it begins (peers write the pid; one line per run, so a re-run would show),
/// touches the heartbeat file at every step, returns early when the stop file appears
/// (clean-up only) and then writes "done <why> <CLOCK_MONOTONIC ns>" to the done file.
/// With `cooperative` (cancel_running_s_coop, ours) it also returns at the first step that
/// sees shmray::cancelled(): checked right after each 10 ms sleep, before the heartbeat, so a
/// cancelled task touches the heartbeat no more.
std::string long_task(std::string start_path, std::string hb_path, std::string stop_path, std::string done_path,
                      double total_s, bool cooperative) {
  append_line(start_path, std::to_string(::getpid()));
  write_text(hb_path, "");
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(total_s));
  std::string why = "ran_to_the_end";
  while (Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (cooperative && shmray::cancelled()) {
      why = "saw_cancelled";
      break;
    }
    touch(hb_path);
    if (file_exists(stop_path)) {
      why = "stop_file";
      break;
    }
  }
  write_text(done_path, "done " + why + " " + std::to_string(mono_ns()) + "\n");
  return "finished";
}
SHMRAY_REMOTE(long_task);

/// crash_task (peers.py crash_task): appends "<pid> <CLOCK_MONOTONIC ns>" to the marker file
/// (one line per attempt), then ends its process as os._exit(1) does.
int crash_task(std::string marker_path) {
  append_line(marker_path, std::to_string(::getpid()) + " " + std::to_string(mono_ns()));
  ::_exit(1);
}
SHMRAY_REMOTE(crash_task);

/// crash_once (ours, worker_crash_retry_s): crash_task on its first attempt (marker empty),
/// returns 7 on the next one; each attempt appends "<pid> <ns> crash|ok".
int crash_once(std::string marker_path) {
  const bool first = read_text(marker_path).empty();
  append_line(marker_path, std::to_string(::getpid()) + " " + std::to_string(mono_ns()) + (first ? " crash" : " ok"));
  if (first) ::_exit(1);
  return 7;
}
SHMRAY_REMOTE(crash_once);

}  // namespace

// ============================================================================ helpers
namespace {

constexpr std::int64_t kLargeBytes = 100ll * 1024 * 1024;  // 104857600
constexpr std::int64_t kLargeLen = kLargeBytes / 8;        // 13107200 doubles
constexpr double kLargeSum = double(kLargeLen) * double(kLargeLen - 1) / 2.0;  // 85899338956800, exact

void check(bool ok, const std::string& what) {
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
const auto seconds = [](double dt) { return dt; };
auto per_second(double count) {
  return [count](double dt) { return count / dt; };
}

void sleep_s(double s) { std::this_thread::sleep_for(std::chrono::duration<double>(s)); }

/// init() in the constructor, shutdown() in the destructor: a workload's own pool.
struct OwnPool {
  OwnPool(unsigned workers, std::size_t store_bytes) { start_warm_pool(workers, store_bytes); }
  ~OwnPool() { shmray::shutdown(); }
  OwnPool(const OwnPool&) = delete;
  OwnPool& operator=(const OwnPool&) = delete;
};

shmray::Options pool_options(unsigned workers, std::size_t store_bytes) {
  return {.num_workers = workers, .object_store_bytes = store_bytes, .quiet = true};
}

/// The pool's processes: the fork server (our child) and its workers.
struct PoolPids {
  pid_t fork_server = 0;
  std::vector<pid_t> workers;
};
PoolPids pool_pids(unsigned expected_workers) {
  PoolPids p;
  const auto servers = proc::children(::getpid(), "shmray-forksrv");
  check(servers.size() == 1, "one fork server (a child of the driver named shmray-forksrv); found " +
                                 std::to_string(servers.size()));
  p.fork_server = servers[0];
  p.workers = proc::children(p.fork_server, "shmray-worker");
  check(p.workers.size() == expected_workers, "the fork server has " + std::to_string(expected_workers) +
                                                  " shmray-worker children; found " + std::to_string(p.workers.size()));
  return p;
}

/// Demangled dynamic type of an exception ("shmray::WorkerCrashedError").
std::string type_name(const std::exception& e) {
  int status = 0;
  char* name = abi::__cxa_demangle(typeid(e).name(), nullptr, nullptr, &status);
  std::string s = status == 0 && name ? name : typeid(e).name();
  std::free(name);
  return s;
}

double seconds_between(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }
std::chrono::nanoseconds as_ns(double s) {
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
std::vector<Attempt> attempts_of(const std::string& path) {
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

pid_t fork_server_pid() {
  const auto servers = proc::children(::getpid(), "shmray-forksrv");
  check(servers.size() == 1, "one fork server (a child of the driver named shmray-forksrv); found " +
                                 std::to_string(servers.size()));
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
std::string summary_text(const std::vector<double>& v) {
  if (v.empty()) return "-";
  return short_cell(Result::ok(v));
}

}  // namespace

void start_warm_pool(unsigned workers, std::size_t store_bytes) {
  shmray::init(pool_options(workers, store_bytes));
  try {
    std::vector<shmray::ObjectRef<int>> refs;
    for (int i = 0; i < 8; ++i) refs.push_back(shmray::task(noop).remote(i));
    const auto got = shmray::get(refs);
    for (int i = 0; i < 8; ++i) check(got[std::size_t(i)] == i, "warm-up noop(i) == i");
  } catch (...) {
    shmray::shutdown();
    throw;
  }
}

// ============================================================================ workloads
namespace {

/// startup_s: from just before init() until the driver holds the result of one noop(1).
/// Each repetition is a cold pool start; shutdown() is outside the timed window.
Result startup_s(const Context& c) {
  auto once = [&] {
    Stopwatch sw;
    shmray::init(pool_options(c.workers, c.store_bytes));
    int v = -1;
    try {
      v = shmray::get(shmray::task(noop).remote(1));
    } catch (...) {
      shmray::shutdown();
      throw;
    }
    const double dt = sw.seconds();
    shmray::shutdown();
    check(v == 1, "noop(1) == 1");
    return dt;
  };
  Result r = Result::ok(repeat(Reps(c.p, c.p.startup_reps), 0, once, seconds));
  r.note = "init({.num_workers=" + std::to_string(c.workers) +
           ", 1 GiB store, quiet}) + get(noop(1)); shutdown() not timed";
  return r;
}

/// tasks_sync_per_s: N times submit noop(i), get it, check it is i. Figure N / elapsed.
Result tasks_sync_per_s(const Context& c) {
  auto run = [](int n) {
    Stopwatch sw;
    for (int i = 0; i < n; ++i) check(shmray::get(shmray::task(noop).remote(i)) == i, "noop(i) == i");
    return sw.seconds();
  };
  run(c.p.sync_warmup_n);
  const int n = c.p.sync_n;
  Result r = Result::ok(repeat(Reps(c.p, c.p.sync_reps), 0, [&] { return run(n); }, per_second(n)));
  r.extra.set("n", n);
  return r;
}

/// N noop(i) submitted without waiting, then get(refs) (all, in order). Timed: first submit
/// to last result in hand. The refs are released after the window.
double submit_then_get(int n) {
  std::vector<shmray::ObjectRef<int>> refs;
  refs.reserve(std::size_t(n));
  Stopwatch sw;
  for (int i = 0; i < n; ++i) refs.push_back(shmray::task(noop).remote(i));
  const std::vector<int> got = shmray::get(refs);
  const double dt = sw.seconds();
  check(got.size() == std::size_t(n), "get(refs) returns N values");
  for (int i = 0; i < n; ++i) check(got[std::size_t(i)] == i, "noop(i) == i, in submission order");
  return dt;
}

/// tasks_async_per_s: submit N noop(i), then get all N in order. Figure N / elapsed.
Result tasks_async_per_s(const Context& c) {
  submit_then_get(c.p.async_warmup_n);
  const int n = c.p.async_n;
  Result r = Result::ok(repeat(Reps(c.p, c.p.async_reps), 0, [&] { return submit_then_get(n); }, per_second(n)));
  r.extra.set("n", n);
  return r;
}

/// tasks_async_per_s on a pool of its own with `workers` workers (ours: how the rate scales).
Result tasks_async_on_own_pool(const Context& c, unsigned workers) {
  OwnPool pool(workers, c.store_bytes);
  Result r = tasks_async_per_s(c);
  r.extra.set("workers", workers);
  r.note = "tasks_async_per_s on a fresh warmed pool of " + std::to_string(workers) + " worker(s)";
  return r;
}

/// tasks_and_get_batch_per_s: one repetition = submit 1000 noop(i), get the 1000 results.
/// Figure 1 / elapsed of the batch.
Result tasks_and_get_batch_per_s(const Context& c) {
  const int b = c.p.batch_size;
  Result r = Result::ok(repeat(Reps(c.p, c.p.batch_reps), c.p.warmup ? 1 : 0,
                                            [&] { return submit_then_get(b); }, per_second(1)));
  r.extra.set("batch_size", b);
  return r;
}

/// wait_1k_refs_per_s: submit 1000 sleep0(), then wait for all of them (wait with
/// num_returns = 1000; results not fetched). Timed window includes submission. Figure 1 / elapsed.
Result wait_1k_refs_per_s(const Context& c) {
  const int n = c.p.wait_n;
  auto once = [n] {
    std::vector<shmray::ObjectRef<int>> refs;
    refs.reserve(std::size_t(n));
    Stopwatch sw;
    for (int i = 0; i < n; ++i) refs.push_back(shmray::task(sleep0).remote());
    const auto w = shmray::wait(refs, {.num_returns = refs.size()});
    const double dt = sw.seconds();
    check(w.ready.size() == std::size_t(n) && w.rest.empty(), "wait(all) returns every ref as ready");
    return dt;
  };
  Result r = Result::ok(repeat(Reps(c.p, c.p.wait_reps), c.p.warmup ? 1 : 0, once, per_second(1)));
  r.extra.set("n", n);
  return r;
}

/// put_gigabytes_per_s: put() a std::vector<double> of 13,107,200 random values (100 MiB,
/// made once, untimed) until put returns the ref. Figure 104857600 / 1e9 / elapsed.
Result put_gigabytes_per_s(const Context& c) {
  std::vector<double> arr(static_cast<std::size_t>(kLargeLen));
  {
    std::mt19937_64 rng(0);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    for (double& x : arr) x = u(rng);  // random: incompressible
  }
  auto once = [&] {
    Stopwatch sw;
    shmray::ObjectRef<std::vector<double>> ref = shmray::put(arr);
    const double dt = sw.seconds();
    // Untimed: the stored object is the array (a zero-copy look), then the ref is dropped.
    const shmray::View<std::vector<double>> v = shmray::get_view(ref);
    check(v.size() == arr.size() && v.data()[0] == arr[0] && v.data()[arr.size() - 1] == arr.back(),
          "the stored object holds the array");
    return dt;
  };
  Result r = Result::ok(repeat(Reps(c.p, c.p.put_reps), c.p.warmup ? 1 : 0, once, per_second(double(kLargeBytes) / 1e9)));
  r.extra.set("bytes", kLargeBytes);
  r.extra.set("as_task_argument", false);
  r.note = "shmray::put(std::vector<double>) into the shared-memory store; returns the ref";
  return r;
}

/// pipeline_large_s: b = task(sum_array).remote(task(make_array).remote(13107200)); get(b)
/// == 85899338956800. Timed: submitting A to B's result in the driver. A writes its 100 MiB
/// straight into the store (Buffer) and B reads it there (View): no copy at all.
/// pipeline_large_s_copy (ours): the plain way, std::vector result and const& parameter:
/// the array is copied into the store, and again into B's private vector.
template <auto Make, auto Sum>
Result pipeline_large(const Context& c, const char* note) {
  auto once = [] {
    Stopwatch sw;
    const double s = shmray::get(shmray::task(Sum).remote(shmray::task(Make).remote(kLargeLen)));
    const double dt = sw.seconds();
    check(s == kLargeSum, "sum_array(make_array(13107200)) == 85899338956800 (got " + std::to_string(s) + ")");
    return dt;
  };
  Result r = Result::ok(repeat(Reps(c.p, c.p.pipeline_reps), c.p.warmup ? 1 : 0, once, seconds));
  r.extra.set("bytes", kLargeBytes);
  r.extra.set("via_driver", false);
  r.note = note;
  return r;
}
Result pipeline_large_s(const Context& c) {
  return pipeline_large<make_array, sum_array>(
      c, "A writes a Buffer straight into the store, B (its ref as argument) reads it in place through a View");
}
Result pipeline_large_s_copy(const Context& c) {
  return pipeline_large<make_array_vector, sum_array_copy>(
      c, "std::vector result (copied into the store) and const& parameter (copied out again)");
}

/// in_order_s: submit the 10 sleep_then_return(i, unit), get all 10 in submission order,
/// then per result: print it, sleep one unit ("business logic"). Timed: first submit to the
/// end of the last unit of business logic.
Result in_order_s(const Context& c) {
  const double unit = c.p.demo_unit_s;
  std::vector<double> values;
  for (int rep = 0; rep < c.p.demo_reps; ++rep) {
    std::fprintf(stderr, "    in_order     rep %d prints:", rep + 1);
    Stopwatch sw;
    std::vector<shmray::ObjectRef<int>> refs;
    for (int i = 0; i < 10; ++i) refs.push_back(shmray::task(sleep_then_return).remote(i, unit));
    const std::vector<int> results = shmray::get(refs);  // all, in submission order
    for (int v : results) {
      std::fprintf(stderr, " %d", v);
      sleep_s(unit);  // driver "business logic"
    }
    const double dt = sw.seconds();
    std::fprintf(stderr, " (%.3f s)\n", dt);
    for (int i = 0; i < 10; ++i) check(results[std::size_t(i)] == i, "in-order results are 0..9");
    values.push_back(dt);
  }
  Result r = Result::ok(values);
  r.extra.set("unit_s", unit);
  return r;
}

/// as_available_s: submit the 10 tasks, then loop: wait(rest, num_returns = 1) (the
/// earliest-submitted of those already done), get and print it, sleep one unit, continue with
/// the rest. Timed: first submit to the end of the last unit of business logic.
Result as_available_s(const Context& c) {
  const double unit = c.p.demo_unit_s;
  std::vector<double> values;
  for (int rep = 0; rep < c.p.demo_reps; ++rep) {
    std::fprintf(stderr, "    as_available rep %d prints:", rep + 1);
    Stopwatch sw;
    std::vector<shmray::ObjectRef<int>> rest;
    for (int i = 0; i < 10; ++i) rest.push_back(shmray::task(sleep_then_return).remote(i, unit));
    std::vector<int> seen;
    while (!rest.empty()) {
      shmray::WaitResult<int> w = shmray::wait(rest, {.num_returns = 1});
      check(w.ready.size() == 1, "wait(num_returns=1) without timeout returns one ref");
      const int v = shmray::get(w.ready.front());
      std::fprintf(stderr, " %d", v);
      sleep_s(unit);  // driver "business logic"
      seen.push_back(v);
      rest = std::move(w.rest);
    }
    const double dt = sw.seconds();
    std::fprintf(stderr, " (%.3f s)\n", dt);
    std::sort(seen.begin(), seen.end());
    for (int i = 0; i < 10; ++i) check(seen.size() == 10 && seen[std::size_t(i)] == i, "as-available results are 0..9");
    values.push_back(dt);
  }
  Result r = Result::ok(values);
  r.extra.set("unit_s", unit);
  return r;
}

/// idle_cpu_percent (ours): CPU time used by an idle, warmed pool over idle_window_s, as a
/// percent of one core: driver (getrusage RUSAGE_SELF: every thread, while the main thread
/// sleeps) + fork server + workers (utime + stime of /proc/<pid>/stat). One value per window.
Result idle_cpu_percent(const Context& c) {
  OwnPool pool(c.workers, c.store_bytes);
  const PoolPids pids = pool_pids(c.workers);
  sleep_s(0.1);  // let the warm-up's last spins end: "idle" starts after the pool's last task

  struct Sample {
    double driver = 0, fork_server = 0, workers = 0, sched = 0;
  };
  auto sample = [&] {
    Sample s;
    s.driver = proc::self_cpu_seconds();
    s.fork_server = proc::cpu_seconds(pids.fork_server).value_or(0);
    for (pid_t w : pids.workers) s.workers += proc::cpu_seconds(w).value_or(0);
    s.sched = proc::schedstat_seconds(::getpid()).value_or(0) + proc::schedstat_seconds(pids.fork_server).value_or(0);
    for (pid_t w : pids.workers) s.sched += proc::schedstat_seconds(w).value_or(0);
    return s;
  };
  Json details = Json::array();
  std::vector<double> values;
  Reps reps(c.p, c.p.idle_reps, /*adaptive=*/false);
  while (reps.more()) {
    const Sample a = sample();
    Stopwatch sw;
    sleep_s(c.p.idle_window_s);
    const double dt = sw.seconds();
    const Sample b = sample();
    reps.add(dt);
    auto pct = [dt](double x) { return 100.0 * x / dt; };
    const double total = (b.driver - a.driver) + (b.fork_server - a.fork_server) + (b.workers - a.workers);
    values.push_back(pct(total));
    Json d = Json::object();
    d.set("window_s", dt);
    d.set("driver_percent", pct(b.driver - a.driver));
    d.set("fork_server_percent", pct(b.fork_server - a.fork_server));
    d.set("workers_percent", pct(b.workers - a.workers));
    d.set("schedstat_total_percent", pct(b.sched - a.sched));  // ns-precise cross-check
    details.push(std::move(d));
  }
  Result r = Result::ok(values);
  r.extra.set("workers", c.workers);
  r.extra.set("window_s", c.p.idle_window_s);
  r.extra.set("details", std::move(details));
  r.note = "idle pool of " + std::to_string(c.workers) +
           " after warm-up: driver (getrusage) + fork server + workers (/proc/<pid>/stat utime+stime, "
           "10 ms ticks); details split it and give a schedstat (ns) cross-check";
  return r;
}

/// worker_rss_mib (ours): resident memory of a worker (VmRSS of /proc/<pid>/status) in a
/// fresh pool after a warm-up (8 + 1000 noop tasks, so every worker has run tasks). One value
/// per worker.
Result worker_rss_mib(const Context& c) {
  OwnPool pool(c.workers, c.store_bytes);
  submit_then_get(1000);
  const PoolPids pids = pool_pids(c.workers);
  auto mem_json = [](pid_t pid, const proc::Memory& m) {
    Json d = Json::object();
    d.set("pid", pid);
    d.set("vm_rss_mib", m.vm_rss_mib);
    d.set("rss_anon_mib", m.rss_anon_mib);
    d.set("rss_file_mib", m.rss_file_mib);
    d.set("rss_shmem_mib", m.rss_shmem_mib);
    d.set("pss_mib", m.pss_mib);
    d.set("private_mib", m.private_mib);
    return d;
  };
  std::vector<double> values;
  Json details = Json::array();
  for (pid_t w : pids.workers) {
    const auto m = proc::memory(w);
    check(m.has_value(), "read /proc/" + std::to_string(w) + "/status");
    values.push_back(m->vm_rss_mib);
    details.push(mem_json(w, *m));
  }
  Result r = Result::ok(values);
  r.extra.set("workers", c.workers);
  r.extra.set("details", std::move(details));
  if (auto m = proc::memory(::getpid())) r.extra.set("driver", mem_json(::getpid(), *m));
  if (auto m = proc::memory(pids.fork_server)) r.extra.set("fork_server", mem_json(pids.fork_server, *m));
  r.note = "VmRSS of each worker (n = workers, not repetitions); it counts pages shared with the driver "
           "(libraries, copy-on-write heap, touched store pages): private_mib and pss_mib in details say "
           "what a worker alone adds";
  return r;
}

// ---------------------------------------------------------------------------- nested, cancel, crash

int fib_plain(int n) { return n < 2 ? n : fib_plain(n - 1) + fib_plain(n - 2); }

/// nested_fib: fib(n) as a task that submits fib(n-1) and fib(n-2) and gets both. Timed: the
/// driver submits fib(n) -> the driver holds the result (checked against plain recursion,
/// fib(15) = 610). Not done within fib_limit_s: "hang" (a deadlock). Afterwards, untimed, one
/// more fib(n) with the fork server's children sampled every ~1 ms: how many worker
/// processes the pool grew to (blocked tasks give their slot up; the pool may add workers).
Result nested_fib(const Context& c) {
  const int n = c.p.fib_n;
  const int expect = fib_plain(n);
  const long tasks = 2L * fib_plain(n + 1) - 1;
  auto not_completed = [&](std::string status, std::string reason) {
    Result r;
    r.status = std::move(status);
    r.reason = std::move(reason);
    r.extra.set("completes", false);
    r.extra.set("n", n);
    r.extra.set("tasks", tasks);
    return r;
  };
  std::vector<double> values;
  Reps reps(c.p, c.p.fib_reps);
  while (reps.more()) {
    Stopwatch sw;
    const shmray::ObjectRef<int> ref = shmray::task(fib).remote(n);
    int v = -1;
    try {
      v = shmray::get(ref, as_ns(c.p.fib_limit_s));
    } catch (const shmray::GetTimeoutError& e) {
      char buf[160];
      std::snprintf(buf, sizeof buf, "fib(%d) did not finish within %.0f s (deadlock?): ", n, c.p.fib_limit_s);
      return not_completed("hang", buf + type_name(e) + ": " + e.what());
    } catch (const std::exception& e) {
      char buf[120];
      std::snprintf(buf, sizeof buf, " (after %.1f s; limit %.0f s)", sw.seconds(), c.p.fib_limit_s);
      return not_completed("failed", type_name(e) + ": " + e.what() + buf);
    }
    const double dt = sw.seconds();
    check(v == expect, "fib(" + std::to_string(n) + ") == " + std::to_string(expect) + " (got " + std::to_string(v) + ")");
    values.push_back(dt);
    reps.add(dt);
  }
  // Untimed: the worker processes one more fib(n) runs on.
  std::size_t before = 0, peak = 0;
  {
    WorkerWatch watch(fork_server_pid());
    before = watch.live().size();
    check(shmray::get(shmray::task(fib).remote(n), as_ns(c.p.fib_limit_s)) == expect, "untimed fib(n) again");
    watch.stop();
    peak = watch.peak();
  }
  Result r = Result::ok(values);
  r.extra.set("n", n);
  r.extra.set("tasks", tasks);
  r.extra.set("completes", true);
  r.extra.set("worker_processes_before", before);
  r.extra.set("worker_processes_peak", peak);
  r.cell_suffix = " ok";
  r.note = "completes without deadlock with " + std::to_string(c.workers) + " workers: fib(" + std::to_string(n) + ") = " +
           std::to_string(expect) + ", " + std::to_string(tasks) + " tasks, each parent get()s its two children; " +
           "worker processes (sampled every ~1 ms in an untimed extra run): " + std::to_string(before) + " before, peak " +
           std::to_string(peak);
  return r;
}

/// cancel_running_s (force = true) and cancel_running_s_coop (ours, force = false and the task
/// polls cancelled() at every 10 ms step). One repetition: submit long_task; wait (untimed)
/// until it has started, then 50 ms; t0; shmray::cancel(ref, {.force}); poll get(ref, 0) until
/// it throws TaskCancelledError (limit 10 s, as peers.py gives Dask); submit noop(7) and get it
/// (limit cancel_new_task_limit_s); figure = now - t0. Then, untimed: stopped? = the heartbeat's
/// mtime did not change over 0.5 s; capacity = two sleep_s(0.2) done within 3 s. Ours on top:
/// when the task really stopped (force: its worker process's exit, seen on a pidfd; coop: the
/// time stamp it writes when it returns) and how often it ran (a re-run would add a start line).
Result cancel_workload(const Context& c, bool force) {
  constexpr double kToldLimit = 10.0;
  const double new_limit = c.p.cancel_new_task_limit_s;
  std::vector<double> values, told_after, stopped_after;
  Json details = Json::array();
  bool stopped_all = true;
  int told_reps = 0, blocked = 0, reruns = 0;
  std::string caps, not_told;
  for (int rep = 0; rep < c.p.cancel_reps; ++rep) {
    TempDir d("cancel");
    const std::string start_p = d.file("start"), hb_p = d.file("hb"), stop_p = d.file("stop"), done_p = d.file("done");
    const shmray::ObjectRef<std::string> h =
        shmray::task(long_task).remote(start_p, hb_p, stop_p, done_p, 30.0, !force);
    check(wait_for([&] { return !lines_of(start_p).empty(); }, 30.0), "the long task started within 30 s");
    const pid_t task_pid = static_cast<pid_t>(std::stol(lines_of(start_p).front()));
    DeathWatch death(task_pid);
    sleep_s(0.05);  // it is now well inside its sleep

    const auto t0 = Clock::now();
    shmray::cancel(h, {.force = force});
    const auto t_cancel = Clock::now();
    bool told = false;
    std::string told_as;
    for (;;) {
      try {
        (void)shmray::get(h, std::chrono::nanoseconds(0));
        told_as = "get returned the task's value";
        break;
      } catch (const shmray::TaskCancelledError& e) {
        told = true;
        told_as = e.what();
        break;
      } catch (const shmray::GetTimeoutError&) {
        if (seconds_between(t0, Clock::now()) > kToldLimit) {
          told_as = "get(ref, 0) still timed out 10 s after cancel";
          break;
        }
      } catch (const std::exception& e) {
        told_as = type_name(e) + ": " + e.what();
        break;
      }
    }
    const auto t_told = Clock::now();
    const shmray::ObjectRef<int> hn = shmray::task(noop).remote(7);
    bool new_ok = false;
    std::string new_error;
    try {
      new_ok = shmray::get(hn, as_ns(new_limit)) == 7;
    } catch (const shmray::GetTimeoutError&) {
    } catch (const std::exception& e) {
      new_error = type_name(e) + ": " + e.what();
    }
    const auto t_new = Clock::now();

    // Untimed: was the running task stopped? Heartbeat over 0.5 s.
    const std::int64_t m1 = mtime_ns(hb_p);
    sleep_s(0.5);
    const std::int64_t m2 = mtime_ns(hb_p);
    const bool stopped = m1 == m2;
    // Capacity after the cancel: two 0.2 s tasks, 3 s limit.
    const auto tc = Clock::now();
    const std::vector<shmray::ObjectRef<double>> hc = {shmray::task(sleep_seconds).remote(0.2),
                                                       shmray::task(sleep_seconds).remote(0.2)};
    const auto w = shmray::wait(hc, {.num_returns = 2, .timeout = std::chrono::seconds(3)});
    const double cap = seconds_between(tc, Clock::now());
    const std::size_t cap_done = w.ready.size();
    // Clean-up (not measured): let the long task end, collect everything.
    write_text(stop_p, "");
    wait_for([&] { return file_exists(done_p) || death.ended(); }, 35.0, 0.01);
    for (const auto& x : hc) {
      try {
        (void)shmray::get(x, std::chrono::seconds(30));
      } catch (const std::exception&) {
      }
    }
    // When did the task really stop?
    std::optional<double> stopped_s;
    std::string stopped_how;
    const auto done_words = [&] {
      std::vector<std::string> words;
      std::istringstream in(read_text(done_p));
      for (std::string x; in >> x;) words.push_back(x);
      return words;
    }();
    if (auto at = death.ended_at()) {
      stopped_s = seconds_between(t0, *at);
      stopped_how = "its worker process ended (pidfd)";
    } else if (done_words.size() == 3 && done_words[1] == "saw_cancelled") {
      stopped_s = double(std::stoll(done_words[2]) - mono_ns(t0)) / 1e9;
      stopped_how = "it returned at its next step (saw cancelled())";
    } else if (done_words.size() == 3) {
      stopped_how = "only at clean-up (" + done_words[1] + ")";
    } else {
      stopped_how = death.watching() ? "unknown (no done file, process alive)" : "unknown (pidfd_open failed)";
    }
    const std::size_t runs = lines_of(start_p).size();

    char cap_text[96];
    if (cap_done == 2)
      std::snprintf(cap_text, sizeof cap_text, "both done in %.2f s", cap);
    else
      std::snprintf(cap_text, sizeof cap_text, "%zu of 2 done after %.1f s", cap_done, cap);
    Json info = Json::object();
    info.set("cancel_returned", nullptr);  // shmray::cancel returns void
    info.set("cancel_call_s", seconds_between(t0, t_cancel));
    info.set("told_cancelled", told);
    info.set("told_after_s", told ? Json(seconds_between(t0, t_told)) : Json());
    info.set("told_as", told_as);
    info.set("new_task_ran", new_ok);
    info.set("new_task_done_after_s", told && new_ok ? Json(seconds_between(t0, t_new)) : Json());
    info.set("new_task_latency_s", new_ok ? Json(seconds_between(t_told, t_new)) : Json());
    if (!new_error.empty()) info.set("new_task_error", new_error);
    info.set("running_task_stopped", stopped);
    info.set("task_stopped_after_s", stopped_s ? Json(*stopped_s) : Json());
    info.set("task_stopped_how", stopped_how);
    info.set("task_runs", runs);
    info.set("two_0.2s_tasks_done_within_3s", cap_done);
    info.set("two_0.2s_tasks_after_cancel", std::string(cap_text));
    details.push(info);
    progress("    cancel rep %d: told %s after %.6f s, new task %s, task stopped %s (%s), runs %zu, two 0.2 s tasks: %s",
             rep + 1, told ? "cancelled" : "NOT cancelled", seconds_between(t0, t_told), new_ok ? "ran" : "did NOT run",
             stopped ? "yes" : "NO", stopped_how.c_str(), runs, cap_text);

    told_reps += told;
    if (!told && not_told.empty()) not_told = told_as;
    if (told && !new_ok) ++blocked;
    if (told && new_ok) values.push_back(seconds_between(t0, t_new));
    if (told) told_after.push_back(seconds_between(t0, t_told));
    if (stopped_s) stopped_after.push_back(*stopped_s);
    stopped_all = stopped_all && stopped;
    reruns += runs > 1;
    caps += (caps.empty() ? "" : "; ") + std::string(cap_text);
  }

  const std::string how = force ? "cancel(ref, {.force = true}) (the worker process is killed and replaced)"
                                : "cancel(ref) without force; the task checks cancelled() at each 10 ms step";
  if (told_reps == 0) {
    Result r;
    r.status = "failed";
    r.reason = how + ": the driver was never told the task was cancelled: " + not_told;
    r.extra.set("details", std::move(details));
    return r;
  }
  char buf[320];
  std::snprintf(buf, sizeof buf, "%s: driver told cancelled after %.6f s (median); the running task was %s", how.c_str(),
                median(told_after), stopped_all ? "stopped" : "NOT stopped in every repetition");
  std::string note = buf;
  if (!stopped_after.empty()) {
    std::snprintf(buf, sizeof buf, " (%s after cancel: %s s)", force ? "worker process gone" : "task returned",
                  summary_text(stopped_after).c_str());
    note += buf;
  }
  std::snprintf(buf, sizeof buf, "; the new noop was not done within %.0f s in %d of %d reps%s; ", new_limit, blocked,
                c.p.cancel_reps, blocked ? " (left out of the figure)" : "");
  note += buf;
  note += "then two 0.2 s tasks: " + caps;
  if (reruns) note += "; THE CANCELLED TASK RAN AGAIN in " + std::to_string(reruns) + " rep(s)";
  if (!force) note += "; coop stop time includes up to one 10 ms step of the task";
  note += "; issue target: cancel reported and task stopped within 5 ms";

  Result r;
  if (values.empty()) {
    r.status = "blocked";
    r.reason = note;
  } else {
    r = Result::ok(values);
    r.note = note;
  }
  r.extra.set("force", force);
  r.extra.set("running_task_stopped", stopped_all);
  r.extra.set("new_task_blocked_reps", blocked);
  r.extra.set("told_after_s_median", median(told_after));
  r.extra.set("task_stopped_after_s", Json::array_of(stopped_after));
  r.extra.set("task_reruns", reruns);
  r.extra.set("details", std::move(details));
  r.cell_suffix = std::string(" task ") + (stopped_all ? "stopped" : "NOT stopped");
  if (blocked) r.cell_suffix += ", new task blocked " + std::to_string(blocked) + "/" + std::to_string(c.p.cancel_reps);
  if (!stopped_after.empty()) {
    std::snprintf(buf, sizeof buf, " (in %s s)", format_number(median(stopped_after)).c_str());
    r.cell_suffix += buf;
  }
  return r;
}

Result cancel_running_s(const Context& c) { return cancel_workload(c, /*force=*/true); }
Result cancel_running_s_coop(const Context& c) { return cancel_workload(c, /*force=*/false); }

/// worker_crash: crash_task on a fresh pool per repetition (init and warm-up untimed). t0,
/// submit, get with a limit (crash_limit_s); figure = time until the driver gets an exception.
/// Reported: its type and message, attempts (= lines in the marker; retries = attempts - 1;
/// max_retries defaults to 3), whether the pool still runs noop(11) within 30 s; ours on top:
/// when each attempt started and how long after the last crash the driver had the error.
Result worker_crash(const Context& c) {
  const double limit = c.p.crash_limit_s;
  std::vector<double> values;
  Json details = Json::array();
  struct Seen {
    std::string seen, type, message, after;
    std::size_t attempts = 0;
    bool pool_ok = false;
  } last;
  for (int rep = 0; rep < c.p.crash_reps; ++rep) {
    OwnPool pool(c.workers, c.store_bytes);
    TempDir d("crash");
    const std::string marker = d.file("attempts");
    Seen s;
    const auto t0 = Clock::now();
    const shmray::ObjectRef<int> h = shmray::task(crash_task).remote(marker);
    try {
      s.seen = "result " + std::to_string(shmray::get(h, as_ns(limit)));
    } catch (const shmray::GetTimeoutError& e) {
      s.seen = "timeout";
      s.type = type_name(e);
      s.message = e.what();
    } catch (const std::exception& e) {
      s.seen = "exception";
      s.type = type_name(e);
      s.message = e.what();
    }
    const auto t_seen = Clock::now();
    const double dt = seconds_between(t0, t_seen);
    const std::vector<Attempt> attempts = attempts_of(marker);
    s.attempts = attempts.size();
    // Does the pool keep working?
    const auto t1 = Clock::now();
    try {
      s.pool_ok = shmray::get(shmray::task(noop).remote(11), std::chrono::seconds(30)) == 11;
      char buf[80];
      std::snprintf(buf, sizeof buf, "works: a new task ran %.4f s later", seconds_between(t1, Clock::now()));
      s.after = buf;
    } catch (const std::exception& e) {
      s.after = "unusable: " + type_name(e) + ": " + e.what();
    }
    Json starts = Json::array();
    for (const Attempt& a : attempts) starts.push(double(a.ns - mono_ns(t0)) / 1e9);
    Json info = Json::object();
    info.set("driver_sees", s.seen);
    info.set("exception_type", s.type.empty() ? Json() : Json(s.type));
    info.set("message", s.message.empty() ? Json() : Json(s.message));
    info.set("seconds_until_driver_sees_it", dt);
    info.set("attempts_run", s.attempts);
    info.set("attempt_started_after_s", std::move(starts));  // from t0, per attempt
    if (!attempts.empty()) info.set("last_crash_to_error_s", double(mono_ns(t_seen) - attempts.back().ns) / 1e9);
    info.set("pool_keeps_working", s.pool_ok);
    info.set("after", s.after);
    details.push(info);
    progress("    crash rep %d: %s %s after %.4f s, %zu attempt(s), pool %s", rep + 1, s.seen.c_str(), s.type.c_str(), dt,
             s.attempts, s.after.c_str());
    if (s.seen == "exception") values.push_back(dt);
    last = s;
  }
  const int retries = static_cast<int>(last.attempts) - 1;
  Result r;
  if (last.seen == "timeout") {
    r.status = "hang";
    char buf[96];
    std::snprintf(buf, sizeof buf, "no result and no error within %.0f s (get(ref, timeout) threw %s)", limit,
                  last.type.c_str());
    r.reason = buf + std::string("; the task was run ") + std::to_string(last.attempts) + " time(s); the pool " + last.after;
  } else if (values.empty()) {
    r.status = "failed";
    r.reason = "a task that ends its own process: the driver got " + last.seen + " instead of an error";
  } else {
    r = Result::ok(values);
    std::string msg = last.message.substr(0, 160);
    r.note = "driver sees " + last.type + " (" + msg + "); task run " + std::to_string(last.attempts) + " time(s) (" +
             (retries > 0 ? "retried " + std::to_string(retries) + " time(s)" : std::string("no retry")) + "); pool " +
             last.after;
  }
  r.extra.set("details", std::move(details));
  r.extra.set("pool_keeps_working", last.pool_ok);
  r.extra.set("exception_type", last.type.empty() ? Json() : Json(last.type));
  r.extra.set("retries", retries);
  if (r.status == "ok") {
    const auto colons = last.type.rfind("::");
    r.cell_suffix = " " + (colons == std::string::npos ? last.type : last.type.substr(colons + 2));
  }
  r.sub_rows.push_back({"  crash: pool works after", last.pool_ok ? "true" : "false"});
  r.sub_rows.push_back({"  crash: retries", std::to_string(retries)});
  return r;
}

/// worker_crash_retry_s (ours; issue target: a crashed worker's task retried and the pool
/// whole again within 50 ms). crash_once on a fresh pool per repetition (untimed start): it
/// ends its process on the first attempt and returns 7 on the retry. Figure: submit -> the
/// value 7 in the driver (one crash + one retry). Also pool_whole_s: from the crash (the time
/// stamp the task writes just before _exit) until the fork server has as many live
/// "shmray-worker" children as at the start, the crashed one not among them (sampled every
/// ~1 ms by a thread while the repetition runs).
Result worker_crash_retry_s(const Context& c) {
  std::vector<double> values, whole;
  Json details = Json::array();
  for (int rep = 0; rep < c.p.crash_retry_reps; ++rep) {
    OwnPool pool(c.workers, c.store_bytes);
    const PoolPids pids = pool_pids(c.workers);
    TempDir d("crash_retry");
    const std::string marker = d.file("attempts");
    WorkerWatch watch(pids.fork_server);
    const auto t0 = Clock::now();
    int v = -1;
    std::string error;
    try {
      v = shmray::get(shmray::task(crash_once).remote(marker), as_ns(c.p.crash_limit_s));
    } catch (const std::exception& e) {
      error = type_name(e) + ": " + e.what();
    }
    const auto t_result = Clock::now();
    const std::vector<Attempt> attempts = attempts_of(marker);
    check(error.empty(), "crash_once returns 7 after one retry; the driver got " + error);
    check(v == 7, "crash_once returns 7 (got " + std::to_string(v) + ")");
    check(attempts.size() == 2 && attempts[0].tag == "crash" && attempts[1].tag == "ok",
          "crash_once ran twice (crash, ok); the marker has " + std::to_string(attempts.size()) + " line(s)");
    const pid_t crashed = attempts[0].pid;
    const std::size_t expected = pids.workers.size();
    auto whole_set = [&](const std::vector<pid_t>& live) {
      return live.size() == expected && std::find(live.begin(), live.end(), crashed) == live.end();
    };
    const bool whole_seen = wait_for([&] { return whole_set(watch.live()); }, 5.0);
    watch.stop();
    const auto crash_at = Clock::time_point(std::chrono::nanoseconds(attempts[0].ns));
    std::optional<Clock::time_point> gone_at, whole_at;
    pid_t replacement = 0;
    for (const WorkerWatch::Change& ch : watch.changes()) {
      if (ch.t < crash_at) continue;
      const bool has_crashed = std::find(ch.live.begin(), ch.live.end(), crashed) != ch.live.end();
      if (!has_crashed && !gone_at) gone_at = ch.t;
      if (whole_set(ch.live)) {
        whole_at = ch.t;
        for (pid_t p : ch.live)
          if (std::find(pids.workers.begin(), pids.workers.end(), p) == pids.workers.end()) replacement = p;
        break;
      }
    }
    check(whole_seen && whole_at.has_value(), "the pool had " + std::to_string(expected) + " live workers again within 5 s");
    const double dt = seconds_between(t0, t_result);
    const double whole_s = seconds_between(crash_at, *whole_at);
    values.push_back(dt);
    whole.push_back(whole_s);
    const Clock::time_point retry_at{std::chrono::nanoseconds(attempts[1].ns)};
    Json info = Json::object();
    info.set("result_s", dt);
    info.set("crash_after_submit_s", seconds_between(t0, crash_at));
    info.set("retry_started_after_crash_s", seconds_between(crash_at, retry_at));
    info.set("result_after_crash_s", seconds_between(crash_at, t_result));
    info.set("worker_gone_seen_after_crash_s", gone_at ? Json(seconds_between(crash_at, *gone_at)) : Json());
    info.set("pool_whole_s", whole_s);
    info.set("crashed_pid", crashed);
    info.set("replacement_pid", replacement);
    info.set("retried_on", attempts[1].pid == replacement ? "the replacement worker" : "the other worker");
    details.push(info);
    progress("    crash retry rep %d: result after %.4f s (crash at +%.4f s, retry started %.4f s after it), pool whole "
             "%.4f s after the crash",
             rep + 1, dt, seconds_between(t0, crash_at), seconds_between(crash_at, retry_at), whole_s);
  }
  Result r = Result::ok(values);
  r.extra.set("pool_whole_s", Json::array_of(whole));
  r.extra.set("pool_whole_s_median", median(whole));
  r.extra.set("details", std::move(details));
  r.note = "one crash + one retry: submit -> value in the driver; pool_whole_s (crash -> " + std::to_string(c.workers) +
           " live workers again, /proc sampled every ~1 ms) " + summary_text(whole) +
           "; issue target: retried and pool whole within 50 ms";
  r.sub_rows.push_back({"  crash retry: pool_whole_s", summary_text(whole)});
  return r;
}

// ---------------------------------------------------------------------------- ours: scale, syscalls

/// queued_1m_s (ours, the speed issue: target <= 5 s and peak RSS <= 1 GiB): submit queued_n
/// noop(i) (1,000,000; quick 100,000) without waiting, then get all of them in order. Timed:
/// first submit -> last result in hand. Peak RSS of the driver: VmHWM is the process's
/// lifetime high-water mark, so it is reset to the current RSS ("5" into
/// /proc/self/clear_refs) before each repetition: VmHWM after it is this repetition's peak;
/// the delta is its growth over the RSS before. After the refs are dropped the store must
/// hold no more objects than before (a leak check).
Result queued_1m_s(const Context& c) {
  const int n = c.p.queued_n;
  const pid_t self = ::getpid();
  std::vector<double> values;
  Json details = Json::array();
  double peak = 0, peak_delta = 0;
  bool reset_ok = true;
  Reps reps(c.p, c.p.queued_reps, /*adaptive=*/false);
  while (reps.more()) {
    const bool reset = proc::reset_peak_rss();
    reset_ok = reset_ok && reset;
    const double rss0 = proc::status_mib(self, "VmRSS").value_or(0);
    const double hwm0 = proc::status_mib(self, "VmHWM").value_or(0);
    const std::size_t objects0 = shmray::store_stats().objects;
    std::vector<shmray::ObjectRef<int>> refs;
    refs.reserve(std::size_t(n));
    Stopwatch sw;
    for (int i = 0; i < n; ++i) refs.push_back(shmray::task(noop).remote(i));
    const double submit_s = sw.seconds();
    std::vector<int> got = shmray::get(refs);
    const double dt = sw.seconds();
    const double hwm1 = proc::status_mib(self, "VmHWM").value_or(0);
    const auto mem = proc::memory(self);
    const shmray::StoreStats st = shmray::store_stats();
    check(got.size() == std::size_t(n), "get(refs) returns N values");
    for (int i = 0; i < n; ++i) check(got[std::size_t(i)] == i, "noop(i) == i, in submission order");
    // Untimed: drop every ref and result; the store must let the objects go.
    refs = {};
    got = {};
    std::size_t objects_after = 0;
    const bool released = wait_for([&] { return (objects_after = shmray::store_stats().objects) <= objects0; }, 5.0, 0.01);
    const double rss_after = proc::status_mib(self, "VmRSS").value_or(0);

    Json d = Json::object();
    d.set("seconds", dt);
    d.set("submit_s", submit_s);
    d.set("get_s", dt - submit_s);
    d.set("tasks_per_s", n / dt);
    d.set("peak_reset", reset);
    d.set("vm_rss_before_mib", rss0);
    d.set("vm_hwm_before_mib", hwm0);
    d.set("vm_hwm_after_mib", hwm1);
    d.set("peak_delta_mib", hwm1 - rss0);
    if (mem) {
      d.set("vm_rss_at_end_mib", mem->vm_rss_mib);
      d.set("rss_anon_at_end_mib", mem->rss_anon_mib);
      d.set("rss_shmem_at_end_mib", mem->rss_shmem_mib);
    }
    d.set("vm_rss_after_release_mib", rss_after);
    d.set("store_objects_before", objects0);
    d.set("store_objects_at_end", st.objects);
    d.set("store_used_bytes_at_end", st.used_bytes);
    d.set("store_objects_after_release", objects_after);
    details.push(std::move(d));
    progress("    queued rep: %d tasks in %.3f s (submit %.3f s), VmHWM %.1f MiB (+%.1f MiB over VmRSS before), store "
             "objects %zu -> %zu -> %zu",
             n, dt, submit_s, hwm1, hwm1 - rss0, objects0, st.objects, objects_after);
    check(released, "after the refs are dropped the store holds at most the " + std::to_string(objects0) +
                        " objects of before within 5 s (still " + std::to_string(objects_after) + ")");
    values.push_back(dt);
    reps.add(dt);
    peak = std::max(peak, hwm1);
    peak_delta = std::max(peak_delta, hwm1 - rss0);
  }
  Result r = Result::ok(values);
  r.extra.set("n", n);
  r.extra.set("peak_rss_mib", peak);
  r.extra.set("peak_rss_delta_mib", peak_delta);
  r.extra.set("peak_reset", reset_ok);
  r.extra.set("details", std::move(details));
  char buf[400];
  std::snprintf(buf, sizeof buf,
                "%d noop tasks submitted, then get(refs); driver peak RSS (VmHWM%s) %.1f MiB, +%.1f MiB over VmRSS "
                "before; issue target: <= 5 s and peak RSS <= 1 GiB",
                n, reset_ok ? ", reset before each repetition via /proc/self/clear_refs" : ", NOT reset: lifetime peak",
                peak, peak_delta);
  r.note = buf;
  std::snprintf(buf, sizeof buf, " peak RSS %.0f MiB", peak);
  r.cell_suffix = buf;
  return r;
}

/// One process of the pool as counted by syscalls_per_task.
struct Counted {
  std::string role;  // driver | fork_server | worker
  pid_t pid = 0;
};

/// `strace -c` summary: total calls and calls per syscall name.
struct StraceCounts {
  long long total = 0;
  std::vector<std::pair<std::string, long long>> by_call;
};
std::optional<StraceCounts> parse_strace_c(const std::string& path) {
  if (!file_exists(path)) return std::nullopt;
  std::istringstream in(read_text(path));  // strace -c writes nothing at all for no syscalls
  StraceCounts s;
  bool any = false, total_line = false;
  for (std::string line; std::getline(in, line);) {
    std::istringstream ls(line);
    std::vector<std::string> tok;
    for (std::string t; ls >> t;) tok.push_back(t);
    // "% time seconds usecs/call calls [errors] syscall"
    if (tok.size() < 5 || tok[0] == "%" || tok[0].find_first_not_of('-') == std::string::npos) continue;
    char* end = nullptr;
    std::strtod(tok[0].c_str(), &end);
    if (*end) continue;
    const long long calls = std::strtoll(tok[3].c_str(), nullptr, 10);
    any = true;
    if (tok.back() == "total") {
      s.total = calls, total_line = true;
    } else {
      s.by_call.push_back({tok.back(), calls});
    }
  }
  if (!total_line)
    for (const auto& [name, k] : s.by_call) s.total += k;
  if (!any && read_text(path).find_first_not_of(" \n") != std::string::npos) return std::nullopt;  // not a summary
  std::sort(s.by_call.begin(), s.by_call.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  return s;
}

/// Runs `body` with one `strace -c -f -q -p PID` per process in `who` (each counted apart):
/// attached (every thread's TracerPid is its strace) before `body`, detached with SIGINT after
/// it, which makes strace write its summary. Returns the counts per process, or why not. The
/// counts include what the driver does around `body` to attach and detach (some tens of
/// calls): syscalls_per_task subtracts an idle window counted the same way.
std::optional<std::vector<StraceCounts>> strace_counts(const std::vector<Counted>& who, const TempDir& dir,
                                                       const std::string& tag, const std::function<void()>& body,
                                                       std::string& why_not) {
  std::vector<std::unique_ptr<ChildProgram>> tracers(who.size());
  std::vector<std::string> outs(who.size());
  auto start = [&](std::size_t i) {
    const std::string base = dir.path + "/strace." + tag + "." + std::to_string(i);
    outs[i] = base + ".txt";
    tracers[i] = std::make_unique<ChildProgram>(
        std::vector<std::string>{"strace", "-c", "-f", "-q", "-o", outs[i], "-p", std::to_string(who[i].pid)},
        base + ".log");
    if (tracers[i]->spawn_error())
      why_not = "cannot run strace: " + std::string(std::strerror(tracers[i]->spawn_error())) +
                " (install it: apt-get install strace)";
    return tracers[i]->spawn_error() == 0;
  };
  // Attached = every thread of the process has its strace as TracerPid.
  auto attach = [&](std::size_t from, std::size_t to) {
    for (std::size_t i = from; i < to; ++i)
      if (!start(i)) return false;
    std::string problem;
    const bool ok = wait_for(
        [&] {
          for (std::size_t i = from; i < to; ++i) {
            if (!tracers[i]->running()) {
              problem = "strace -p " + std::to_string(who[i].pid) + " (" + who[i].role +
                        ") ended before attaching: " + tracers[i]->log_head();
              return true;
            }
            for (pid_t tid : proc::threads(who[i].pid))
              if (proc::tracer_pid(who[i].pid, tid).value_or(0) != tracers[i]->pid()) return false;
          }
          return true;
        },
        10.0);
    if (problem.empty() && ok) return true;
    why_not = problem.empty() ? "strace did not attach to every thread within 10 s (ptrace restricted?)" : problem;
    return false;
  };
  auto summary = [&](std::size_t i, std::vector<StraceCounts>& out) {
    const int status = tracers[i]->stop(SIGINT, 10.0);  // strace detaches, writes the summary
    auto counts = parse_strace_c(outs[i]);
    if (!counts) {
      why_not = "no strace -c summary for " + who[i].role + " (wait status " + std::to_string(status) +
                "): " + tracers[i]->log_head();
      return false;
    }
    out[i] = std::move(*counts);
    return true;
  };
  // who[0] is the driver: traced last and released first, so that the driver's own steps of
  // this procedure (watching TracerPid, stopping strace) add as few calls as possible.
  if (!attach(1, who.size()) || !attach(0, 1)) return std::nullopt;
  body();
  std::vector<StraceCounts> out(who.size());
  if (!summary(0, out)) return std::nullopt;
  for (std::size_t i = 1; i < who.size(); ++i)
    if (!summary(i, out)) return std::nullopt;
  return out;
}

/// Cross-check without ptrace: `perf stat -e raw_syscalls:sys_enter --per-thread` on the same
/// processes, counting only while `body` runs (started disabled, enabled and disabled through
/// perf's --control FIFOs, each acknowledged). Counts per process of `who`; needs the
/// tracepoint (root or perf_event_paranoid <= -1) and tracefs.
std::optional<std::vector<long long>> perf_counts(const std::vector<Counted>& who, const TempDir& dir,
                                                  const std::string& tag, const std::function<void()>& body,
                                                  std::string& why_not) {
  std::map<pid_t, std::size_t> owner;  // tid -> index in who
  std::string pids;
  for (std::size_t i = 0; i < who.size(); ++i) {
    for (pid_t tid : proc::threads(who[i].pid)) owner[tid] = i;
    pids += (pids.empty() ? "" : ",") + std::to_string(who[i].pid);
  }
  const std::string base = dir.path + "/perf." + tag;
  const std::string ctl = base + ".ctl", ack = base + ".ack", out = base + ".txt";
  if (::mkfifo(ctl.c_str(), 0600) != 0 || ::mkfifo(ack.c_str(), 0600) != 0) {
    why_not = std::string("mkfifo: ") + std::strerror(errno);
    return std::nullopt;
  }
  // O_RDWR: a FIFO open that never blocks, whoever comes first.
  const int ctl_fd = ::open(ctl.c_str(), O_RDWR | O_CLOEXEC), ack_fd = ::open(ack.c_str(), O_RDWR | O_CLOEXEC);
  struct Fds {
    int a, b;
    ~Fds() {
      if (a >= 0) ::close(a);
      if (b >= 0) ::close(b);
    }
  } fds{ctl_fd, ack_fd};
  if (ctl_fd < 0 || ack_fd < 0) {
    why_not = std::string("open FIFO: ") + std::strerror(errno);
    return std::nullopt;
  }
  ChildProgram perf({"perf", "stat", "-e", "raw_syscalls:sys_enter", "--per-thread", "-x,", "-o", out, "-D", "-1",
                     "--control", "fifo:" + ctl + "," + ack, "-p", pids},
                    base + ".log");
  if (perf.spawn_error()) {
    why_not = "cannot run perf: " + std::string(std::strerror(perf.spawn_error()));
    return std::nullopt;
  }
  auto command = [&](const char* cmd) {
    const std::string line = std::string(cmd) + "\n";
    if (::write(ctl_fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) return false;
    std::string got;
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    while (got.find("ack\n") == std::string::npos && Clock::now() < deadline) {
      pollfd p{ack_fd, POLLIN, 0};
      if (::poll(&p, 1, 100) > 0) {
        char buf[64];
        const ssize_t k = ::read(ack_fd, buf, sizeof buf);
        if (k > 0) got.append(buf, std::size_t(k));
      }
      if (!perf.running()) return false;
    }
    return got.find("ack\n") != std::string::npos;
  };
  if (!command("enable")) {
    why_not = "perf stat did not acknowledge 'enable' within 10 s: " + perf.log_head();
    return std::nullopt;
  }
  body();
  if (!command("disable")) {
    why_not = "perf stat did not acknowledge 'disable': " + perf.log_head();
    return std::nullopt;
  }
  perf.stop(SIGINT, 10.0);
  // "<comm>-<tid>,<count>,,raw_syscalls:sys_enter,..." per thread
  std::vector<long long> counts(who.size(), 0);
  bool any = false;
  std::istringstream in(read_text(out));
  for (std::string line; std::getline(in, line);) {
    const auto comma = line.find(',');
    const auto dash = line.rfind('-', comma);
    if (comma == std::string::npos || dash == std::string::npos || line.find("raw_syscalls:sys_enter") == std::string::npos)
      continue;
    const pid_t tid = static_cast<pid_t>(std::strtol(line.c_str() + dash + 1, nullptr, 10));
    const long long k = std::strtoll(line.c_str() + comma + 1, nullptr, 10);  // "<not counted>" -> 0
    any = true;
    if (auto it = owner.find(tid); it != owner.end()) counts[it->second] += k;
  }
  if (!any) {
    why_not = "no per-thread lines in perf's output: " + read_text(out).substr(0, 300) + perf.log_head();
    return std::nullopt;
  }
  return counts;
}

/// syscalls_per_task (ours): system calls per task on the async path (submit N noop, then get
/// all; N = syscalls_n). The figure: (driver + workers) syscalls / N counted by strace -c
/// attached (ptrace) to the driver (-f: every thread), the fork server and each worker, one
/// strace each, minus what the same procedure counts around an idle window as long as the
/// traced run (the driver's own attach/detach steps; the raw quotient is kept in the JSON).
/// Also: a perf tracepoint count of the same workload without ptrace (when perf may), and
/// context switches per task of an untraced run (/proc/<pid>/task/*/status).
Result syscalls_per_task(const Context& c) {
  const int n = c.p.syscalls_n;
  submit_then_get(1000);  // warm (untimed)
  std::vector<Counted> who{{"driver", ::getpid()}, {"fork_server", fork_server_pid()}};
  for (pid_t w : proc::children(who[1].pid, "shmray-worker"))
    if (proc::alive(w)) who.push_back({"worker", w});
  const std::size_t nworkers = who.size() - 2;
  using Split = std::array<double, 3>;  // driver, fork server, workers
  auto split = [&](auto value_of) {
    Split s{0, 0, 0};
    for (std::size_t i = 0; i < who.size(); ++i) s[std::min<std::size_t>(i, 2)] += double(value_of(i));
    return s;
  };
  auto per_task = [n](const Split& s) { return Split{s[0] / n, s[1] / n, s[2] / n}; };
  auto split_json = [](const Split& s) {
    Json o = Json::object();
    o.set("driver", s[0]);
    o.set("fork_server", s[1]);
    o.set("workers", s[2]);
    o.set("driver_plus_workers", s[0] + s[2]);
    return o;
  };

  TempDir dir("syscalls");
  std::vector<double> values, raw_values, perf_values, cs_values;
  std::vector<Split> strace_splits, perf_splits;
  Json details = Json::array();
  std::string perf_why;
  for (int rep = 0; rep < c.p.syscalls_reps; ++rep) {
    Json d = Json::object();
    // 1. Context switches of an untraced run.
    std::vector<proc::CtxSwitches> cs0, cs1;
    for (const Counted& p : who) cs0.push_back(proc::ctxt_switches(p.pid).value_or(proc::CtxSwitches{}));
    const double untraced_s = submit_then_get(n);
    for (const Counted& p : who) cs1.push_back(proc::ctxt_switches(p.pid).value_or(proc::CtxSwitches{}));
    const Split vol = per_task(split([&](std::size_t i) { return cs1[i].voluntary - cs0[i].voluntary; }));
    const Split invol = per_task(split([&](std::size_t i) { return cs1[i].nonvoluntary - cs0[i].nonvoluntary; }));
    const double cs_per_task = vol[0] + vol[2] + invol[0] + invol[2];
    cs_values.push_back(cs_per_task);
    d.set("untraced_run_s", untraced_s);
    d.set("context_switches_voluntary_per_task", split_json(vol));
    d.set("context_switches_nonvoluntary_per_task", split_json(invol));

    // 2. strace around a run, then around an idle window as long as the traced run took.
    std::string why_not;
    double traced_s = 0;
    const auto run = strace_counts(who, dir, "run" + std::to_string(rep), [&] { traced_s = submit_then_get(n); }, why_not);
    if (!run) return Result::unsupported("strace cannot count here: " + why_not);
    const auto idle = strace_counts(who, dir, "idle" + std::to_string(rep), [&] { sleep_s(traced_s); }, why_not);
    const Split st_run = split([&](std::size_t i) { return (*run)[i].total; });
    Split st_net = st_run;
    if (idle) {
      const Split st_idle = split([&](std::size_t i) { return (*idle)[i].total; });
      for (std::size_t k = 0; k < 3; ++k) st_net[k] = std::max(0.0, st_run[k] - st_idle[k]);
      d.set("strace_idle_window_calls", split_json(st_idle));
    } else {
      d.set("strace_idle_window_calls", "not counted: " + why_not);
    }
    const Split net = per_task(st_net);
    values.push_back(net[0] + net[2]);
    raw_values.push_back((st_run[0] + st_run[2]) / n);
    strace_splits.push_back(net);
    d.set("traced_run_s", traced_s);
    d.set("strace_run_calls", split_json(st_run));
    d.set("strace_per_task", split_json(net));
    d.set("strace_idle_subtracted", idle.has_value());
    Json top = Json::array();
    for (std::size_t i = 0; i < who.size(); ++i) {
      Json e = Json::object();
      e.set("role", who[i].role);
      e.set("pid", who[i].pid);
      e.set("calls", (*run)[i].total);
      Json calls = Json::object();
      for (std::size_t k = 0; k < (*run)[i].by_call.size() && k < 8; ++k)
        calls.set((*run)[i].by_call[k].first, (*run)[i].by_call[k].second);
      e.set("top_syscalls", std::move(calls));
      top.push(std::move(e));
    }
    d.set("strace_processes", std::move(top));

    // 3. perf (no ptrace), when allowed.
    double perf_s = 0;
    if (auto pc = perf_counts(who, dir, std::to_string(rep), [&] { perf_s = submit_then_get(n); }, perf_why)) {
      const Split p = per_task(split([&](std::size_t i) { return (*pc)[i]; }));
      perf_values.push_back(p[0] + p[2]);
      perf_splits.push_back(p);
      d.set("perf_run_s", perf_s);
      d.set("perf_per_task", split_json(p));
    } else {
      d.set("perf", "unavailable: " + perf_why);
    }
    progress("    syscalls rep %d: strace %.4f per task (raw %.4f; driver %.4f, workers %.4f), perf %s, context "
             "switches %.4f per task",
             rep + 1, values.back(), raw_values.back(), net[0], net[2],
             perf_splits.size() == std::size_t(rep + 1) ? format_number(perf_values.back()).c_str() : "n/a",
             cs_per_task);
    details.push(std::move(d));
  }
  auto median_split = [&](const std::vector<Split>& v) {
    Split m{0, 0, 0};
    for (std::size_t k = 0; k < 3; ++k) {
      std::vector<double> col;
      for (const Split& s : v) col.push_back(s[k]);
      m[k] = median(col);
    }
    return m;
  };
  const Split st_med = median_split(strace_splits);
  Result r = Result::ok(values);
  r.extra.set("n", n);
  r.extra.set("workers", nworkers);
  r.extra.set("method", "strace -c -f -q -p <pid>, one per process (driver, fork server, each worker), around one run, "
                        "minus the same around an idle window as long as the traced run");
  r.extra.set("strace_per_task_median", split_json(st_med));
  r.extra.set("strace_raw_per_task", Json::array_of(raw_values));
  if (!perf_values.empty()) {
    r.extra.set("perf_per_task", Json::array_of(perf_values));
    r.extra.set("perf_per_task_median", split_json(median_split(perf_splits)));
  } else {
    r.extra.set("perf", "unavailable: " + perf_why);
  }
  r.extra.set("context_switches_per_task", Json::array_of(cs_values));
  r.extra.set("details", std::move(details));
  std::string perf_text = "unavailable";
  char buf[700];
  if (!perf_values.empty()) {
    const Split pm = median_split(perf_splits);
    perf_text = summary_text(perf_values);
    std::snprintf(buf, sizeof buf, " (median driver %.4f + workers %.4f)", pm[0], pm[2]);
    perf_text += buf;
  }
  std::snprintf(buf, sizeof buf,
                "%d async noop tasks per run (submit all, get all); strace -c (ptrace) per process, an idle window's "
                "count subtracted: median driver %.4f + workers %.4f per task (fork server %.4f; raw, nothing "
                "subtracted: %s); under ptrace the spin/futex choices may differ from an untraced run; perf "
                "raw_syscalls:sys_enter (no ptrace): %s; context switches per task (untraced, driver + workers, "
                "voluntary + not): %s",
                n, st_med[0], st_med[2], st_med[1], summary_text(raw_values).c_str(), perf_text.c_str(),
                summary_text(cs_values).c_str());
  r.note = buf;
  std::snprintf(buf, sizeof buf, "%.4f / %.4f", st_med[0], st_med[2]);
  r.sub_rows.push_back({"  syscalls: driver / workers", buf});
  r.sub_rows.push_back({"  syscalls: perf (no ptrace)", perf_values.empty() ? "unavailable" : summary_text(perf_values)});
  r.sub_rows.push_back({"  context switches per task", summary_text(cs_values)});
  return r;
}

}  // namespace

// ============================================================================ registry
const std::vector<Workload>& registry() {
  static const std::vector<Workload> table = {
      // peers.py order: startup (own pools), the shared pool's workloads, worker_crash; our
      // variant of a peers' workload sits right below it.
      {"startup_s", "s", Pool::kOwn, startup_s},
      {"tasks_sync_per_s", "tasks/s", Pool::kShared, tasks_sync_per_s},
      {"tasks_async_per_s", "tasks/s", Pool::kShared, tasks_async_per_s},
      {"tasks_and_get_batch_per_s", "batches/s", Pool::kShared, tasks_and_get_batch_per_s},
      {"wait_1k_refs_per_s", "reps/s", Pool::kShared, wait_1k_refs_per_s},
      {"put_gigabytes_per_s", "GB/s (1e9 B/s)", Pool::kShared, put_gigabytes_per_s},
      {"pipeline_large_s", "s", Pool::kShared, pipeline_large_s},
      {"pipeline_large_s_copy", "s", Pool::kShared, pipeline_large_s_copy},  // ours: const& parameter
      {"in_order_s", "s", Pool::kShared, in_order_s},
      {"as_available_s", "s", Pool::kShared, as_available_s},
      {"nested_fib", "s", Pool::kShared, nested_fib},
      {"cancel_running_s", "s", Pool::kShared, cancel_running_s},
      {"cancel_running_s_coop", "s", Pool::kShared, cancel_running_s_coop},  // ours: cooperative variant
      {"worker_crash", "s", Pool::kOwn, worker_crash},
      {"worker_crash_retry_s", "s", Pool::kOwn, worker_crash_retry_s},  // ours: one crash, one retry
      // ours (no peer figure)
      {"tasks_async_per_s_1w", "tasks/s", Pool::kOwn, [](const Context& c) { return tasks_async_on_own_pool(c, 1); }},
      {"tasks_async_per_s_4w", "tasks/s", Pool::kOwn, [](const Context& c) { return tasks_async_on_own_pool(c, 4); }},
      {"idle_cpu_percent", "% of one core", Pool::kOwn, idle_cpu_percent},
      {"worker_rss_mib", "MiB", Pool::kOwn, worker_rss_mib},
      {"queued_1m_s", "s", Pool::kShared, queued_1m_s},
      {"syscalls_per_task", "syscalls/task", Pool::kShared, syscalls_per_task},
  };
  return table;
}

}  // namespace bench
