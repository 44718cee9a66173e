// The task bodies (each registered here, exactly once) and start_warm_pool.
#include "common.hpp"

namespace bench {

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
  const auto deadline =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(total_s));
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

void start_warm_pool(unsigned workers, std::size_t store_bytes, const std::string& timeline) {
  shmray::Options o = pool_options(workers, store_bytes);
  o.timeline = timeline;  // empty: off
  shmray::init(o);
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

}  // namespace bench
