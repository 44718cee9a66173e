// shmray's own messages: to the host's sink (Options::log_sink) or to stderr.
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "driver/warn.hpp"

namespace shmray {

const char* to_string(LogLevel level) noexcept {
  switch (level) {
    case LogLevel::debug: return "debug";
    case LogLevel::info: return "info";
    case LogLevel::warning: return "warning";
    case LogLevel::error: return "error";
  }
  return "unknown";
}

namespace driver {

namespace {
// The sink and the process it belongs to. A fork (a worker, the fork server, a child of the
// host) inherits both but not the threads: it sees another pid and never takes the mutexes,
// which a thread of the parent may have held at the fork.
std::atomic<pid_t> g_sink_pid{0};
std::mutex g_sink_mu;  // guards g_sink (held only to copy or replace the pointer)
std::shared_ptr<const LogSink> g_sink;
std::mutex g_call_mu;         // one sink call at a time
thread_local bool t_in_sink;  // this thread is in the sink: what it causes goes to stderr
}  // namespace

// A line on the host's stderr that can neither block the event thread (a stderr pipe nobody
// drains) nor raise SIGPIPE in the host (one whose reader is gone): dropped when it cannot
// be written at once; a SIGPIPE it causes is taken back before the mask is restored.
void write_stderr(const std::string& line) noexcept {
  std::string text;
  try {
    text = line + "\n";
  } catch (...) {
    return;
  }
  pollfd p{STDERR_FILENO, POLLOUT, 0};
  if (::poll(&p, 1, 0) != 1 || (p.revents & (POLLERR | POLLHUP | POLLNVAL))) return;
  sigset_t pipe_sig, old, pending;
  sigemptyset(&pipe_sig);
  sigaddset(&pipe_sig, SIGPIPE);
  ::pthread_sigmask(SIG_BLOCK, &pipe_sig, &old);
  sigpending(&pending);
  const bool was_pending = sigismember(&pending, SIGPIPE) == 1;
  (void)!::write(STDERR_FILENO, text.data(), std::min<std::size_t>(text.size(), PIPE_BUF));
  if (!was_pending) {
    const timespec zero{};
    ::sigtimedwait(&pipe_sig, nullptr, &zero);
  }
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

void set_log_sink(LogSink sink) {
  auto next = sink ? std::make_shared<const LogSink>(std::move(sink)) : nullptr;
  std::shared_ptr<const LogSink> last;
  {
    std::lock_guard lock(g_sink_mu);
    last = std::exchange(g_sink, std::move(next));
    g_sink_pid.store(g_sink ? ::getpid() : 0, std::memory_order_release);
  }
  // `last` is destroyed here, outside the lock; a call in flight holds its own reference.
}

void log(LogLevel level, const std::string& line) noexcept {
  const pid_t owner = g_sink_pid.load(std::memory_order_acquire);
  if (owner == 0 || owner != ::getpid() || t_in_sink) return write_stderr(line);
  std::shared_ptr<const LogSink> sink;
  {
    std::lock_guard lock(g_sink_mu);
    sink = g_sink;
  }
  if (!sink) return write_stderr(line);
  std::lock_guard call(g_call_mu);
  t_in_sink = true;
  try {
    (*sink)(level, line);
  } catch (...) {
    // A sink that throws must not take the runtime down: the message is dropped.
  }
  t_in_sink = false;
}

void warn(const std::string& line) noexcept { log(LogLevel::warning, line); }

}  // namespace driver
}  // namespace shmray
