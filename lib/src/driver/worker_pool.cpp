// WorkerPool: the fork server, asking it for workers, their rings and processes, deaths
// and restarts. What a death means for tasks and objects is Driver's (exits.cpp).
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>

#include "driver/warn.hpp"
#include "driver/worker_pool.hpp"
#include "shm/futex.hpp"
#include "shmray/errors.hpp"
#include "wire/fork_protocol.hpp"
#include "worker/fork_server.hpp"  // the one driver -> worker edge: start_fork_server forks and runs it

namespace shmray::driver {

namespace {

int pidfd_open(pid_t pid) noexcept {
  return worker::fd_above_stdio(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
}

// The parent of `pid` from /proc (0 when it is gone or unreadable).
pid_t parent_of(pid_t pid) noexcept {
  char path[64], buf[512];
  std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  const ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return 0;
  buf[n] = 0;
  const char* close_paren = std::strrchr(buf, ')');  // the name may hold spaces and parentheses
  int ppid = 0;
  char state = 0;
  if (!close_paren || std::sscanf(close_paren + 1, " %c %d", &state, &ppid) != 2) return 0;
  return static_cast<pid_t>(ppid);
}

bool pidfd_signal(int pidfd, int sig) noexcept { return ::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0) == 0; }

bool readable(int fd) noexcept {
  pollfd p{fd, POLLIN, 0};
  return fd >= 0 && ::poll(&p, 1, 0) > 0;
}

// Fork-server restarts tolerated within kRestartWindow before the pool is declared broken.
constexpr std::size_t kMaxRestarts = 5;
constexpr auto kRestartWindow = std::chrono::seconds(60);

}  // namespace

std::string describe_exit(int status) {
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    const char* name = sigabbrev_np(sig);
    return "killed by signal " + std::to_string(sig) + (name ? std::string(" (SIG") + name + ")" : std::string());
  }
  if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
  return "ended (status " + std::to_string(status) + ")";
}

bool is_fork_failure(const shm::ExitReport& r) {
  return WIFEXITED(r.status) && WEXITSTATUS(r.status) == wire::kExitForkFailed;
}

std::string fork_failed_message(int err) {
  return std::string("shmray: fork failed: ") + std::strerror(err) +
         "; the system refused to start a worker process: raise the pids limit (ulimit -u, the cgroup's "
         "pids.max) or lower num_workers";
}

WorkerPool::WorkerPool(shm::Segment& seg, common::Views& v, bool log_to_driver)
    : seg_(seg),
      v_(v),
      log_to_driver_(log_to_driver),
      exits_(&seg_.exits_index(), seg_.exits_entries(), seg_.geometry().exits_entries) {}

bool WorkerPool::events_pending() noexcept {
  // Called without mu_ (by threads waiting for objects): shared ring indexes and atomics only.
  if (control_backlog_total_.load(std::memory_order_relaxed) != 0) return true;
  for (std::uint32_t w = 0; w < workers_.size(); ++w) {
    shm::RingIndex& r = seg_.worker(w).events;
    if (shm::load_relaxed(r.head) != shm::load_acquire(r.tail)) return true;
  }
  shm::RingIndex& x = seg_.exits_index();
  return shm::load_relaxed(x.head) != shm::load_acquire(x.tail);
}

pid_t WorkerPool::worker_pid(std::uint32_t slot) const noexcept {
  // The worker writes its pid itself, so it is as trustworthy as the worker: before the
  // driver signals it, it must be a child of our fork server, never the driver, the fork
  // server, or any other process (a stray write could name any of them, -1 all of them).
  if (slot >= workers_.size()) return 0;
  const pid_t pid = shm::load_acquire(seg_.worker(slot).pid);
  if (pid <= 1 || pid == ::getpid() || pid == zygote_pid_ || zygote_pid_ <= 0) return 0;
  return parent_of(pid) == zygote_pid_ ? pid : 0;
}

void WorkerPool::throw_if_fatal_at_start(const shm::ExitReport& r) {
  // A worker that could not be forked (a pids limit) fails init at once, with the errno; one
  // that failed its layout check exits at once; one that died otherwise is replaced.
  if (is_fork_failure(r)) throw PoolError(fork_failed_message(r.pid));
  if (WIFEXITED(r.status) && WEXITSTATUS(r.status) == wire::kExitBadLayout)
    throw Error("shmray: a worker refused the shared segment (layout version mismatch)");
}

void WorkerPool::throw_if_fork_server_ended() {
  if (!readable(zygote_pidfd_)) return;
  int status = 0;
  const bool reaped = ::waitpid(zygote_pid_, &status, WNOHANG) == zygote_pid_;
  zygote_pid_ = -1;
  throw Error("shmray: the fork server " + (reaped ? describe_exit(status) : std::string("ended")) +
              " while starting workers");
}

void WorkerPool::start_fork_server(const std::vector<std::uint32_t>& slots) {
  // SOCK_SEQPACKET: each request is one datagram (nothing can shift them), send() takes
  // MSG_NOSIGNAL (a dead fork server is EPIPE, never SIGPIPE in the host), and closing our
  // end is an EOF the fork server sees.
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0)
    throw PoolError(std::string("shmray: socketpair failed: ") + std::strerror(errno));
  fds[0] = worker::fd_above_stdio(fds[0]);
  fds[1] = worker::fd_above_stdio(fds[1]);
  if (fds[0] < 0 || fds[1] < 0) {
    for (int fd : fds)
      if (fd >= 0) ::close(fd);
    throw PoolError("shmray: no file descriptor left for the fork server's socket");
  }
  worker::ForkServerConfig cfg;
  cfg.driver_pid = ::getpid();
  cfg.initial_slots = slots;
  cfg.log_to_driver = log_to_driver_;
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int e = errno;
    ::close(fds[0]);
    ::close(fds[1]);
    throw PoolError(std::string("shmray: fork of the fork server failed: ") + std::strerror(e) +
                    "; raise the pids limit (ulimit -u, the cgroup's pids.max) or lower num_workers");
  }
  if (pid == 0) {
    ::close(fds[1]);
    worker::fork_server_main(seg_, fds[0], cfg);
  }
  ::close(fds[0]);
  zygote_pid_ = pid;
  zygote_fd_ = fds[1];
  zygote_pidfd_ = pidfd_open(pid);  // our child and not yet reaped: this pidfd is exactly it
  v_.shared->zygote_pid = pid;
}

void WorkerPool::send_requests_locked() noexcept {
  // Never blocks: a fork server that is stopped (a debugger, SIGSTOP) must not stall the
  // driver; what does not fit waits here for the next pass of the event thread.
  while (!requests_.empty() && zygote_fd_ >= 0) {
    const wire::ForkRequest req{static_cast<std::uint32_t>(requests_.front() >> 32),
                                static_cast<std::uint32_t>(requests_.front())};
    const ssize_t n = ::send(zygote_fd_, &req, sizeof req, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n != static_cast<ssize_t>(sizeof req)) return;  // full (retry later) or dead (its pidfd tells)
    requests_.pop_front();
  }
}

bool WorkerPool::fork_server_died_locked(std::chrono::steady_clock::time_point now) {
  // At most one system call per 20 ms for this, however often the doorbell rings (the
  // event thread's housekeeping pass bounds the delay to 200 ms).
  if (zygote_pid_ <= 0 || now - last_zygote_check_ < std::chrono::milliseconds(20)) return false;
  last_zygote_check_ = now;
  return zygote_pidfd_ >= 0 ? readable(zygote_pidfd_) : ::waitpid(zygote_pid_, nullptr, WNOHANG) != 0;
}

void WorkerPool::open_pidfd_locked(std::uint32_t w) {
  WorkerEnd& we = workers_[w];
  shm::WorkerControl& c = seg_.worker(w);
  if (!we.alive || we.pidfd >= 0) return;
  const auto st = shm::load_acquire(c.state);
  const pid_t pid = shm::load_acquire(c.pid);  // written before its state left kStarting
  if (st != std::uint32_t(shm::WorkerState::kStarting) && st != std::uint32_t(shm::WorkerState::kDead) && pid > 0) {
    we.pid = pid;
    we.pidfd = pidfd_open(pid);
  }
}

bool WorkerPool::respawn_due_locked(std::uint32_t w, std::chrono::steady_clock::time_point now) {
  WorkerEnd& we = workers_[w];
  if (we.alive || !we.respawn_pending || now < we.respawn_at || !broken_.empty() || zygote_fd_ < 0) return false;
  we.respawn_pending = false;
  return true;
}

std::string WorkerPool::reap_fork_server_locked() {
  int status = 0;
  std::string how = "ended";
  if (::waitpid(zygote_pid_, &status, WNOHANG) == zygote_pid_) how = describe_exit(status);
  for (int* fd : {&zygote_pidfd_, &zygote_fd_})
    if (*fd >= 0) ::close(*fd), *fd = -1;
  zygote_pid_ = -1;
  requests_.clear();
  return how;
}

void WorkerPool::kill_survivors_locked() {
  // Its workers got SIGKILL from PR_SET_PDEATHSIG as it died. Make sure every one is gone
  // before its slot is reused: kill it again through its pidfd (never a recycled pid) and
  // wait until the pidfd says it has ended.
  std::vector<pollfd> dying;
  for (WorkerEnd& we : workers_)
    if (we.alive && we.pidfd >= 0) {
      pidfd_signal(we.pidfd, SIGKILL);
      dying.push_back({we.pidfd, POLLIN, 0});
    }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!dying.empty() && std::chrono::steady_clock::now() < deadline) {
    if (::poll(dying.data(), dying.size(), 100) < 0 && errno != EINTR) break;
    std::erase_if(dying, [](const pollfd& p) { return p.revents != 0; });
  }
}

std::optional<std::string> WorkerPool::count_restart_locked(const std::string& how) {
  const auto now = std::chrono::steady_clock::now();
  while (!restarts_.empty() && now - restarts_.front() > kRestartWindow) restarts_.pop_front();
  restarts_.push_back(now);
  if (restarts_.size() <= kMaxRestarts) return std::nullopt;
  return "shmray: the fork server died " + std::to_string(restarts_.size()) + " times within " +
         std::to_string(kRestartWindow.count()) + " s (last: " + how + "); the pool is stopped";
}

std::vector<std::uint32_t> WorkerPool::starting_slots_locked() const {
  std::vector<std::uint32_t> slots;
  for (std::uint32_t w = 0; w < workers_.size(); ++w)
    if (workers_[w].alive && shm::load_acquire(seg_.worker(w).state) == std::uint32_t(shm::WorkerState::kStarting))
      slots.push_back(w);
  return slots;
}

bool WorkerPool::set_broken_locked(const std::string& why) {
  if (!broken_.empty()) return false;
  broken_ = why;
  return true;
}

void WorkerPool::forget_after_fork() noexcept {
  if (zygote_fd_ >= 0) ::close(zygote_fd_);  // the parent's request pipe: never write to it
  zygote_fd_ = -1;
}

void WorkerPool::stop() noexcept {
  if (zygote_fd_ >= 0) {
    const wire::ForkRequest req{wire::kShutdown, 0};
    (void)!::send(zygote_fd_, &req, sizeof req, MSG_NOSIGNAL | MSG_DONTWAIT);  // closing is an EOF anyway
    ::close(zygote_fd_);
    zygote_fd_ = -1;
  }
  if (zygote_pid_ > 0) {
    // The fork server kills and reaps every worker, relays their last output (2 s at most,
    // however slowly our stdout drains) and exits; give it 5 s.
    if (zygote_pidfd_ >= 0) {
      pollfd p{zygote_pidfd_, POLLIN, 0};
      while (::poll(&p, 1, 5'000) < 0 && errno == EINTR) {
      }
      if (!p.revents) pidfd_signal(zygote_pidfd_, SIGKILL);
    } else {
      ::kill(zygote_pid_, SIGKILL);
    }
    int status = 0;
    while (::waitpid(zygote_pid_, &status, 0) < 0 && errno == EINTR) {
    }
    zygote_pid_ = -1;
  }
  if (zygote_pidfd_ >= 0) ::close(zygote_pidfd_);
  zygote_pidfd_ = -1;
  for (WorkerEnd& we : workers_)
    if (we.pidfd >= 0) ::close(we.pidfd), we.pidfd = -1;
}

}  // namespace shmray::driver
