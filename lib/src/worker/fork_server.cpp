#include "worker/fork_server.hpp"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "shm/futex.hpp"
#include "shm/ring.hpp"
#include "wire/fork_protocol.hpp"
#include "worker/output_relay.hpp"
#include "worker/worker_main.hpp"

namespace shmray::worker {

int fd_above_stdio(int fd) noexcept {
  if (fd < 0 || fd > STDERR_FILENO) return fd;
  const int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
  ::close(fd);
  return moved;
}

namespace {

using namespace std::chrono_literals;

// A failed fork (EAGAIN under a pids limit, ENOMEM) is retried after 10, 20, 40, 80, 160 ms,
// then reported to the driver with its errno instead of spinning.
constexpr int kForkAttempts = 6;
constexpr auto kFirstBackoff = 10ms;
// At shutdown, the driver's streams get this long without progress (2 s at most) to take
// the last output: a stdout nobody reads must not make shutdown() slow.
constexpr auto kFlushPatience = 250ms;
constexpr auto kFlushMax = 2s;

int pidfd_open(pid_t pid) { return fd_above_stdio(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0))); }

struct Child {
  pid_t pid = 0;
  std::uint32_t slot = 0;
  std::uint32_t incarnation = 0;
  int pidfd = -1;  // readable once the child has ended: a per-child wake-up no signal can lose
  bool reaped = false;
  Stream out, err;
};

struct PendingSpawn {
  std::uint32_t slot = 0;
  int attempts = 0;
  Clock::time_point at;
};

class ForkServer {
 public:
  ForkServer(const shm::Segment& seg, int request_fd, const ForkServerConfig& cfg)
      : seg_(seg),
        req_fd_(request_fd),
        cfg_(cfg),
        exits_(&seg.exits_index(), seg.exits_entries(), seg.geometry().exits_entries) {}

  [[noreturn]] void run() {
    ::prctl(PR_SET_NAME, "shmray-forksrv", 0, 0, 0);
    setup_signals();
    // Our own process group: `kill -TERM -PGID` or a terminal's SIGINT aimed at the host's
    // group does not reach the pool. We still end with the driver (its pidfd), and workers
    // with us (PR_SET_PDEATHSIG). SIGTTOU/SIGTTIN are ignored (setup_signals) so output to
    // the host's terminal from this background group never stops us.
    ::setpgid(0, 0);
    // The whole process, not the forking thread, must be gone: a pidfd tells exactly that.
    driver_fd_ = pidfd_open(cfg_.driver_pid);
    if (::getppid() != cfg_.driver_pid) ::_exit(wire::kExitOrphan);
    req_fd_ = fd_above_stdio(req_fd_);
    out_.fd = STDOUT_FILENO;
    err_.fd = STDERR_FILENO;
    const auto now = Clock::now();
    for (std::uint32_t s : cfg_.initial_slots) spawns_.push_back({s, 0, now});
    for (;;) loop_once();
  }

 private:
  void setup_signals() {
    // Workers get the host's dispositions minus its handlers; take the picture before we
    // change ours.
    host_ignored_ = ignored_signals();
    reset_signal_dispositions(host_ignored_);
    // SIGCHLD is default again (reset above, SA_NOCLDWAIT cleared): with the host's SIG_IGN
    // the kernel would reap workers itself and we would never learn how they ended.
    for (int sig : {SIGPIPE, SIGINT, SIGTTOU, SIGTTIN}) ::signal(sig, SIG_IGN);
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    // Set, not add: a fork server re-forked by the driver's event thread inherits its mask.
    ::sigprocmask(SIG_SETMASK, &chld, nullptr);
    sig_fd_ = fd_above_stdio(::signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK));
  }

  // One attempt; returns 0 or the errno of what failed.
  int try_spawn(std::uint32_t slot) {
    // One process per slot incarnation, whatever the requests say: two processes sharing a
    // slot would share its rings and its arena owner id, and write over each other's objects.
    const std::uint32_t wanted = shm::load_acquire(seg_.worker(slot).incarnation);
    for (const Child& c : children_)
      if (!c.reaped && c.slot == slot && c.incarnation == wanted) return 0;
    int out[2] = {-1, -1}, err[2] = {-1, -1};
    if (cfg_.log_to_driver) {
      if (::pipe2(out, O_CLOEXEC) != 0) return errno;
      if (::pipe2(err, O_CLOEXEC) != 0) {
        const int e = errno;
        ::close(out[0]), ::close(out[1]);
        return e;
      }
      for (int* fd : {&out[0], &out[1], &err[0], &err[1]}) *fd = fd_above_stdio(*fd);
    }
    const std::uint32_t incarnation = shm::load_acquire(seg_.worker(slot).incarnation);
    const pid_t self = ::getpid();  // not getppid() in the child: we may be dead by then
    const pid_t pid = ::fork();
    if (pid < 0) {
      const int e = errno;
      for (int fd : {out[0], out[1], err[0], err[1]})
        if (fd >= 0) ::close(fd);
      return e;
    }
    if (pid == 0) start_worker(slot, self, out, err);
    Child c;
    c.pid = pid;
    c.slot = slot;
    c.incarnation = incarnation;
    c.pidfd = pidfd_open(pid);
    if (out[1] >= 0) ::close(out[1]);
    if (err[1] >= 0) ::close(err[1]);
    c.out.fd = out[0];
    c.err.fd = err[0];
    children_.push_back(std::move(c));
    return 0;
  }

  [[noreturn]] void start_worker(std::uint32_t slot, pid_t parent, const int out[2], const int err[2]) {
    std::vector<int> close_fds;
    for (int fd : {req_fd_, sig_fd_, driver_fd_, out[0], err[0]})
      if (fd >= 0) close_fds.push_back(fd);
    for (const Child& c : children_)
      for (int fd : {c.out.fd, c.err.fd, c.pidfd})
        if (fd >= 0) close_fds.push_back(fd);
    WorkerStart start;
    start.slot = slot;
    // Our pid from before the fork: had we died since, getppid() would name the reaper the
    // child was given, and worker_main's orphan check would pass and bind PR_SET_PDEATHSIG
    // to that reaper: a worker outliving its pool.
    start.parent = parent;
    start.out_fd = cfg_.log_to_driver ? out[1] : fd_above_stdio(::open("/dev/null", O_WRONLY | O_CLOEXEC));
    start.err_fd = cfg_.log_to_driver ? err[1] : fd_above_stdio(::open("/dev/null", O_WRONLY | O_CLOEXEC));
    start.close_fds = close_fds;
    start.host_ignored = host_ignored_;
    worker_main(seg_, start);
  }

  void run_spawns(Clock::time_point now) {
    for (std::size_t i = 0; i < spawns_.size();) {
      PendingSpawn& p = spawns_[i];
      if (p.at > now) {
        ++i;
        continue;
      }
      const int e = try_spawn(p.slot);
      if (e == 0) {
        spawns_.erase(spawns_.begin() + static_cast<std::ptrdiff_t>(i));
        continue;
      }
      if (++p.attempts >= kForkAttempts) {
        // The driver decides: init() fails with the errno, later the slot waits or the
        // pool is declared broken; either way nobody waits for a worker that never comes.
        report(p.slot, e, W_EXITCODE(wire::kExitForkFailed, 0), shm::load_acquire(seg_.worker(p.slot).incarnation));
        spawns_.erase(spawns_.begin() + static_cast<std::ptrdiff_t>(i));
        continue;
      }
      p.at = now + std::min<Clock::duration>(kFirstBackoff * (1 << (p.attempts - 1)), 1s);
      ++i;
    }
  }

  int poll_timeout(Clock::time_point now) const {
    Clock::duration t = Clock::duration::max();
    if (!pending_reports_.empty()) t = 1ms;                    // exits ring full: retry soon
    if (driver_fd_ < 0) t = std::min<Clock::duration>(t, 1s);  // no pidfd: look at getppid()
    for (const PendingSpawn& p : spawns_) t = std::min<Clock::duration>(t, std::max<Clock::duration>(p.at - now, 0ms));
    for (const Sink* s : {&out_, &err_})
      if (!s->accepting(now)) t = std::min<Clock::duration>(t, s->progress + kStall - now + 1ms);
    if (t == Clock::duration::max()) return -1;
    return static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(std::max<Clock::duration>(t, 0ms)).count());
  }

  enum class Kind { kRequest, kSignal, kDriver, kSinkOut, kSinkErr, kPidfd, kOut, kErr };

  void loop_once() {
    const auto now = Clock::now();
    run_spawns(now);
    std::vector<pollfd> fds;
    std::vector<std::pair<Kind, std::size_t>> what;
    auto add = [&](int fd, short ev, Kind k, std::size_t i = 0) {
      if (fd < 0) return;
      fds.push_back({fd, ev, 0});
      what.emplace_back(k, i);
    };
    add(req_fd_, POLLIN, Kind::kRequest);
    add(sig_fd_, POLLIN, Kind::kSignal);
    add(driver_fd_, POLLIN, Kind::kDriver);
    if (out_.pending() && !out_.broken) add(out_.fd, POLLOUT, Kind::kSinkOut);
    if (err_.pending() && !err_.broken) add(err_.fd, POLLOUT, Kind::kSinkErr);
    const bool take_out = out_.accepting(now), take_err = err_.accepting(now);
    for (std::size_t i = 0; i < children_.size(); ++i) {
      const Child& c = children_[i];
      if (!c.reaped) add(c.pidfd, POLLIN, Kind::kPidfd, i);
      if (take_out) add(c.out.fd, POLLIN, Kind::kOut, i);
      if (take_err) add(c.err.fd, POLLIN, Kind::kErr, i);
    }
    const int n = ::poll(fds.data(), fds.size(), poll_timeout(now));
    if (n < 0 && errno != EINTR) ::_exit(wire::kExitInternal);
    if (driver_fd_ < 0 && ::getppid() != cfg_.driver_pid) stop_all();
    bool reap_now = false;
    for (std::size_t k = 0; n > 0 && k < fds.size(); ++k) {
      if (!fds[k].revents) continue;
      auto [kind, i] = what[k];
      switch (kind) {
        case Kind::kDriver: stop_all();  // the driver is gone
        case Kind::kRequest: read_requests(); break;
        case Kind::kSignal: reap_now = true; break;
        case Kind::kPidfd: reap_child(children_[i]); break;
        case Kind::kSinkOut: out_.flush_some(); break;
        case Kind::kSinkErr: err_.flush_some(); break;
        case Kind::kOut: relay(children_[i], children_[i].out, out_); break;
        case Kind::kErr: relay(children_[i], children_[i].err, err_); break;
      }
    }
    if (reap_now) reap_any();
    flush_reports();
    out_.flush_some();
    err_.flush_some();
    std::erase_if(children_, [](const Child& c) { return c.reaped && c.out.fd < 0 && c.err.fd < 0; });
  }

  void read_requests() {
    for (;;) {
      wire::ForkRequest req;
      const ssize_t n = ::recv(req_fd_, &req, sizeof req, MSG_DONTWAIT);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) return;
      if (n <= 0) stop_all();  // the driver closed its end
      if (n != static_cast<ssize_t>(sizeof req)) continue;
      if (req.op == wire::kShutdown) stop_all();
      if (req.op == wire::kSpawn && req.slot < seg_.geometry().max_workers)
        spawns_.push_back({req.slot, 0, Clock::now()});
    }
  }

  // The signalfd's way in: whatever ended, by pid.
  void reap_any() {
    signalfd_siginfo si;
    while (::read(sig_fd_, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
    }
    int status = 0;
    pid_t pid;
    while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0)
      for (Child& c : children_)
        if (c.pid == pid && !c.reaped) reaped(c, status);
  }

  // The pidfd's way in: this child ended. Its status may have been taken already (by
  // reap_any, or by the kernel if SIGCHLD were ignored): then it is still reported, once,
  // and its pidfd leaves the poll set, so nothing can spin on it.
  void reap_child(Child& c) {
    if (c.reaped) return;
    int status = 0;
    const pid_t r = ::waitpid(c.pid, &status, WNOHANG);
    if (r == c.pid)
      reaped(c, status);
    else if (r < 0 && errno == ECHILD)
      reaped(c, W_EXITCODE(wire::kExitStatusLost, 0));
  }

  void reaped(Child& c, int status) {
    c.reaped = true;
    report(c.slot, c.pid, status, c.incarnation);
    if (c.pidfd >= 0) ::close(c.pidfd);
    c.pidfd = -1;  // its pipes may still hold output
  }

  void report(std::uint32_t slot, pid_t pid, int status, std::uint32_t incarnation) {
    pending_reports_.push_back({slot, pid, status, incarnation});
    flush_reports();
  }

  void flush_reports() {
    bool any = false;
    while (!pending_reports_.empty() && exits_.try_push(pending_reports_.front())) {
      pending_reports_.pop_front();
      any = true;
    }
    if (any) shm::futex_bump_and_wake_all(&seg_.hot().doorbell.value);
  }

  // The worker's task label (shm/task_label.hpp), or none once its slot is another process's.
  shm::TaskLabel label_of(const Child& c) const {
    shm::WorkerControl& wc = seg_.worker(c.slot);
    if (shm::load_acquire(wc.incarnation) != c.incarnation) return {};
    return shm::read_label(wc);
  }

  // Copies what one read gives of a worker's stream to the driver's, one "(pid=N) " or
  // "(pid=N, task=NAME) " prefixed line at a time. Each byte is scanned once.
  void relay(Child& c, Stream& s, Sink& sink) {
    static char buf[65536];
    const shm::TaskLabel before = label_of(c);
    const ssize_t n = ::read(s.fd, buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
    const std::string prefix = line_prefix(c.pid, before, label_of(c), n < static_cast<ssize_t>(sizeof buf), s);
    if (n <= 0) return end_stream(prefix, s, sink);
    relay_take(prefix, s, sink, std::string_view(buf, static_cast<std::size_t>(n)));
  }

  [[noreturn]] void stop_all() {
    for (const Child& c : children_)
      if (!c.reaped) ::kill(c.pid, SIGKILL);
    for (const Child& c : children_) {
      int status;
      while (!c.reaped && ::waitpid(c.pid, &status, 0) < 0 && errno == EINTR) {
      }
    }
    // Relay what the workers wrote before they went (a task's grandchild may hold a pipe
    // open: read what is there, do not wait for its end).
    static char buf[65536];
    for (Child& c : children_)
      for (auto [s, sink] : {std::pair{&c.out, &out_}, std::pair{&c.err, &err_}}) {
        if (s->fd < 0) continue;
        ::fcntl(s->fd, F_SETFL, O_NONBLOCK);   // our own pipe: no one else shares this flag
        const shm::TaskLabel l = label_of(c);  // the worker is dead: it stays as it was
        const std::string prefix = line_prefix(c.pid, l, l, false, *s);
        ssize_t n;
        while ((n = ::read(s->fd, buf, sizeof buf)) > 0)
          relay_take(prefix, *s, *sink, std::string_view(buf, static_cast<std::size_t>(n)));
        end_stream(prefix, *s, *sink);
      }
    flush_before_exit();
    ::_exit(wire::kExitShutdown);
  }

  void flush_before_exit() {
    const auto start = Clock::now();
    auto last = start;
    for (;;) {
      out_.flush_some();
      err_.flush_some();
      std::vector<pollfd> fds;
      for (const Sink* s : {&out_, &err_})
        if (s->pending() && !s->broken) fds.push_back({s->fd, POLLOUT, 0});
      const auto now = Clock::now();
      if (fds.empty() || now - start > kFlushMax) return;
      if (std::max(out_.progress, err_.progress) > last) last = std::max(out_.progress, err_.progress);
      if (now - last > kFlushPatience) return;
      ::poll(fds.data(), fds.size(), 10);
    }
  }

  const shm::Segment& seg_;
  int req_fd_;
  ForkServerConfig cfg_;
  shm::SpscProducer<shm::ExitReport> exits_;
  int driver_fd_ = -1;
  int sig_fd_ = -1;
  sigset_t host_ignored_{};
  Sink out_, err_;
  std::vector<Child> children_;
  std::vector<PendingSpawn> spawns_;
  std::deque<shm::ExitReport> pending_reports_;
};

}  // namespace

void fork_server_main(const shm::Segment& seg, int request_fd, const ForkServerConfig& cfg) {
  static ForkServer* server = new ForkServer(seg, request_fd, cfg);  // lives until _exit
  server->run();
}

}  // namespace shmray::worker
