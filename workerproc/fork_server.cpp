#include "workerproc/fork_server.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <string>
#include <vector>

#include "shm/futex.hpp"
#include "shm/ring.hpp"
#include "workerproc/exit_codes.hpp"
#include "workerproc/worker_main.hpp"

namespace shmray::worker {

namespace {

struct Child {
  pid_t pid = 0;
  std::uint32_t slot = 0;
  std::uint32_t incarnation = 0;
  int pidfd = -1;  // readable once the child has ended: a per-child wake-up no signal can lose
  int out = -1, err = -1;
  std::string out_line, err_line;
};

void write_all(int fd, const char* p, std::size_t n) {
  while (n) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;  // the driver's output is gone: drop the text, keep serving
    p += w;
    n -= static_cast<std::size_t>(w);
  }
}

class ForkServer {
 public:
  ForkServer(const shm::Segment& seg, int request_fd, const ForkServerConfig& cfg)
      : seg_(seg), req_fd_(request_fd), cfg_(cfg),
        exits_(&seg.exits_index(), seg.exits_entries(), seg.geometry().exits_entries) {}

  [[noreturn]] void run() {
    ::prctl(PR_SET_NAME, "shmray-forksrv", 0, 0, 0);
    ::signal(SIGPIPE, SIG_IGN);
    ::signal(SIGINT, SIG_IGN);  // Ctrl-C is the driver's to handle; we end when it does
    for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2}) ::signal(sig, SIG_DFL);
    // The whole process, not the forking thread, must be gone: a pidfd tells exactly that.
    driver_fd_ = static_cast<int>(::syscall(SYS_pidfd_open, cfg_.driver_pid, 0));
    if (::getppid() != cfg_.driver_pid) ::_exit(kExitOrphan);
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    ::sigprocmask(SIG_BLOCK, &chld, nullptr);
    sig_fd_ = ::signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
    for (std::uint32_t s = 0; s < cfg_.initial_workers; ++s) spawn(s);
    for (;;) loop_once();
  }

 private:
  void spawn(std::uint32_t slot) {
    int out[2] = {-1, -1}, err[2] = {-1, -1};
    if (cfg_.log_to_driver) {
      if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) out[0] = out[1] = err[0] = err[1] = -1;
    }
    const std::uint32_t incarnation = shm::load_acquire(seg_.worker(slot).incarnation);
    const pid_t pid = ::fork();
    if (pid < 0) {
      report(slot, 0, W_EXITCODE(kExitInternal, 0), incarnation);
      return;
    }
    if (pid == 0) {
      std::vector<int> mine{req_fd_, sig_fd_, driver_fd_, out[0], err[0]};
      for (const Child& c : children_) mine.push_back(c.out), mine.push_back(c.err), mine.push_back(c.pidfd);
      std::vector<int> close_fds;
      for (int fd : mine)
        if (fd >= 0) close_fds.push_back(fd);
      WorkerStart start;
      start.slot = slot;
      start.parent = ::getppid();
      start.out_fd = cfg_.log_to_driver ? out[1] : ::open("/dev/null", O_WRONLY);
      start.err_fd = cfg_.log_to_driver ? err[1] : ::open("/dev/null", O_WRONLY);
      start.close_fds = close_fds;
      worker_main(seg_, start);
    }
    Child c;
    c.pid = pid;
    c.slot = slot;
    c.incarnation = incarnation;
    c.pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    if (out[1] >= 0) ::close(out[1]);
    if (err[1] >= 0) ::close(err[1]);
    c.out = out[0];
    c.err = err[0];
    children_.push_back(std::move(c));
  }

  void loop_once() {
    std::vector<pollfd> fds;
    fds.push_back({req_fd_, POLLIN, 0});
    fds.push_back({sig_fd_, POLLIN, 0});
    fds.push_back({driver_fd_, POLLIN, 0});
    for (const Child& c : children_) {
      fds.push_back({c.out, POLLIN, 0});
      fds.push_back({c.err, POLLIN, 0});
      fds.push_back({c.pidfd, POLLIN, 0});
    }
    for (const Child& c : finished_) {
      fds.push_back({c.out, POLLIN, 0});
      fds.push_back({c.err, POLLIN, 0});
    }
    const int timeout = pending_reports_.empty() ? -1 : 1;  // exits ring full: retry soon
    const int n = ::poll(fds.data(), fds.size(), timeout);
    if (n < 0 && errno != EINTR) ::_exit(kExitInternal);
    if (fds[2].revents) stop_all();  // the driver is gone
    if (fds[0].revents) read_requests();
    reap();
    for (std::size_t i = 3; i < fds.size(); ++i)
      if (fds[i].revents && !is_pidfd(fds[i].fd)) relay(fds[i].fd);
    flush_reports();
  }

  void read_requests() {
    ForkRequest req;
    const ssize_t n = ::read(req_fd_, &req, sizeof req);
    if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) stop_all();  // driver closed the pipe
    if (n != static_cast<ssize_t>(sizeof req)) return;
    if (req.op == kShutdown) stop_all();
    if (req.op == kSpawn && req.slot < seg_.geometry().max_workers) spawn(req.slot);
  }

  bool is_pidfd(int fd) const {
    for (const Child& c : children_)
      if (c.pidfd == fd) return true;
    return false;
  }

  // Reaps every ended child (woken by its pidfd, or the signalfd as a second way in).
  void reap() {
    signalfd_siginfo si;
    while (::read(sig_fd_, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
    }
    int status = 0;
    pid_t pid;
    while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0) {
      for (std::size_t i = 0; i < children_.size(); ++i) {
        if (children_[i].pid != pid) continue;
        report(children_[i].slot, pid, status, children_[i].incarnation);
        if (children_[i].pidfd >= 0) ::close(children_[i].pidfd);
        children_[i].pidfd = -1;
        finished_.push_back(std::move(children_[i]));  // its pipes may still hold output
        children_.erase(children_.begin() + static_cast<std::ptrdiff_t>(i));
        break;
      }
    }
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

  // Copies a worker's output to ours, one "(pid=N) " prefixed line at a time.
  void relay(int fd) {
    auto find = [&](std::vector<Child>& v) -> Child* {
      for (Child& c : v)
        if (c.out == fd || c.err == fd) return &c;
      return nullptr;
    };
    Child* c = find(children_);
    if (!c) c = find(finished_);
    if (!c) return;
    const bool is_out = c->out == fd;
    std::string& line = is_out ? c->out_line : c->err_line;
    char buf[65536];
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) return;
      emit(*c, line, is_out, true);
      ::close(fd);
      (is_out ? c->out : c->err) = -1;
      drop_finished();
      return;
    }
    line.append(buf, static_cast<std::size_t>(n));
    emit(*c, line, is_out, false);
  }

  void emit(const Child& c, std::string& line, bool is_out, bool final) {
    const std::string prefix = "(pid=" + std::to_string(c.pid) + ") ";
    std::string out;
    std::size_t start = 0;
    for (std::size_t nl; (nl = line.find('\n', start)) != std::string::npos; start = nl + 1)
      out += prefix + line.substr(start, nl - start + 1);
    line.erase(0, start);
    if (final && !line.empty()) {
      out += prefix + line + "\n";
      line.clear();
    }
    if (!out.empty()) write_all(is_out ? STDOUT_FILENO : STDERR_FILENO, out.data(), out.size());
  }

  void drop_finished() {
    for (std::size_t i = finished_.size(); i-- > 0;)
      if (finished_[i].out < 0 && finished_[i].err < 0) finished_.erase(finished_.begin() + static_cast<std::ptrdiff_t>(i));
  }

  [[noreturn]] void stop_all() {
    for (const Child& c : children_) ::kill(c.pid, SIGKILL);
    for (const Child& c : children_) {
      int status;
      while (::waitpid(c.pid, &status, 0) < 0 && errno == EINTR) {
      }
    }
    // Relay what the workers wrote before they went.
    for (auto* list : {&children_, &finished_})
      for (Child& c : *list) {
        for (int* fd : {&c.out, &c.err}) {
          if (*fd < 0) continue;
          ::fcntl(*fd, F_SETFL, O_NONBLOCK);
          std::string& line = fd == &c.out ? c.out_line : c.err_line;
          char buf[65536];
          ssize_t n;
          while ((n = ::read(*fd, buf, sizeof buf)) > 0) line.append(buf, static_cast<std::size_t>(n));
          emit(c, line, fd == &c.out, true);
        }
      }
    ::_exit(kExitShutdown);
  }

  const shm::Segment& seg_;
  int req_fd_;
  ForkServerConfig cfg_;
  shm::SpscProducer<shm::ExitReport> exits_;
  int driver_fd_ = -1;
  int sig_fd_ = -1;
  std::vector<Child> children_, finished_;
  std::deque<shm::ExitReport> pending_reports_;
};

}  // namespace

void fork_server_main(const shm::Segment& seg, int request_fd, const ForkServerConfig& cfg) {
  static ForkServer* server = new ForkServer(seg, request_fd, cfg);  // lives until _exit
  server->run();
}

}  // namespace shmray::worker
