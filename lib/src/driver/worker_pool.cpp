// The driver's side of the pool: starting the fork server, asking it for workers, and
// cleaning up after a worker that died: its tasks are retried or failed, its references
// released, its arena spans adopted, its rings reset, and a replacement requested.
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <poll.h>
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

#include "driver/driver.hpp"
#include "shm/futex.hpp"
#include "shmray/detail/registry.hpp"
#include "shmray/errors.hpp"
#include "wire/fork_protocol.hpp"
#include "worker/fork_server.hpp"  // the one driver -> worker edge: start_fork_server forks and runs it

namespace shmray::driver {

namespace {

std::string describe_exit(int status) {
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    const char* name = sigabbrev_np(sig);
    return "killed by signal " + std::to_string(sig) + (name ? std::string(" (SIG") + name + ")" : std::string());
  }
  if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
  return "ended (status " + std::to_string(status) + ")";
}

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

bool pidfd_signal(int pidfd, int sig) noexcept {
  return ::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0) == 0;
}

bool readable(int fd) noexcept {
  pollfd p{fd, POLLIN, 0};
  return fd >= 0 && ::poll(&p, 1, 0) > 0;
}

std::string fork_failed_message(int err) {
  return std::string("shmray: fork failed: ") + std::strerror(err) +
         "; the system refused to start a worker process: raise the pids limit (ulimit -u, the cgroup's "
         "pids.max) or lower num_workers";
}

bool is_fork_failure(const shm::ExitReport& r) {
  return WIFEXITED(r.status) && WEXITSTATUS(r.status) == wire::kExitForkFailed;
}

// Fork-server restarts tolerated within kRestartWindow before the pool is declared broken.
constexpr std::size_t kMaxRestarts = 5;
constexpr auto kRestartWindow = std::chrono::seconds(60);
// A slot whose fork failed (after the fork server's own backoff) is tried again this late.
constexpr auto kRespawnDelay = std::chrono::seconds(1);

}  // namespace

// A line on the host's stderr that can neither block the event thread (a stderr pipe nobody
// drains) nor raise SIGPIPE in the host (one whose reader is gone): dropped when it cannot
// be written at once; a SIGPIPE it causes is taken back before the mask is restored.
void warn(const std::string& line) noexcept {
  const std::string text = line + "\n";
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

pid_t Driver::worker_pid(std::uint32_t slot) const noexcept {
  // The worker writes its pid itself, so it is as trustworthy as the worker: before the
  // driver signals it, it must be a child of our fork server, never the driver, the fork
  // server, or any other process (a stray write could name any of them, -1 all of them).
  if (slot >= workers_.size()) return 0;
  const pid_t pid = shm::load_acquire(seg_.worker(slot).pid);
  if (pid <= 1 || pid == ::getpid() || pid == zygote_pid_ || zygote_pid_ <= 0) return 0;
  return parent_of(pid) == zygote_pid_ ? pid : 0;
}

void Driver::reset_worker_rings(std::uint32_t slot) {
  shm::WorkerControl& c = seg_.worker(slot);
  const shm::SegmentHeader& h = v_.geo;
  shm::store_relaxed(c.events.head, std::uint64_t{0});
  shm::store_relaxed(c.events.tail, std::uint64_t{0});
  shm::store_relaxed(c.control.head, std::uint64_t{0});
  shm::store_relaxed(c.control.tail, std::uint64_t{0});
  WorkerEnd& we = workers_[slot];
  we.events = shm::MessageReader(&c.events, seg_.event_buffer(slot), h.event_ring_bytes);
  we.control = shm::SpscProducer<std::uint64_t>(&c.control, seg_.control_entries(slot), h.control_ring_entries);
  control_backlog_total_.fetch_sub(we.control_backlog.size(), std::memory_order_relaxed);
  we.control_backlog.clear();
  we.corrupt = false;
  we.joining.clear();
}

void Driver::start_pool() {
  const std::uint32_t n = v_.geo.num_workers;
  workers_.resize(v_.geo.max_workers);
  for (std::uint32_t s = 0; s < workers_.size(); ++s) reset_worker_rings(s);
  for (std::uint32_t s = 0; s < n; ++s) {
    shm::WorkerControl& c = seg_.worker(s);
    c.incarnation = workers_[s].incarnation = 1;
    c.state = std::uint32_t(shm::WorkerState::kStarting);
    workers_[s].alive = true;
    std::lock_guard lock(mu_);
    supply_locked(s);  // slots for tasks submitted inside tasks, ready before it starts
  }
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);  // or the children would print what the driver had buffered, again
  std::vector<std::uint32_t> slots(n);
  for (std::uint32_t s = 0; s < n; ++s) slots[s] = s;
  start_fork_server(slots);

  // Wait until every first worker has checked the layout and is ready (they ring the doorbell).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  shm::HotWords& h = *v_.hot;
  for (;;) {
    const std::uint32_t seen = shm::atom(h.doorbell.value).load(std::memory_order_seq_cst);
    std::uint32_t ready = 0;
    for (std::uint32_t s = 0; s < n; ++s)
      ready += shm::load_acquire(seg_.worker(s).state) != std::uint32_t(shm::WorkerState::kStarting);
    if (ready == n) break;
    // A worker that could not be forked (a pids limit) fails init at once, with the errno; one
    // that failed its layout check exits at once; one that died otherwise is replaced.
    while (auto r = exits_.try_pop()) {
      if (is_fork_failure(*r)) throw PoolError(fork_failed_message(r->pid));
      if (WIFEXITED(r->status) && WEXITSTATUS(r->status) == wire::kExitBadLayout)
        throw Error("shmray: a worker refused the shared segment (layout version mismatch)");
      std::lock_guard lock(mu_);
      handle_exit_locked(*r);
    }
    if (readable(zygote_pidfd_)) {
      int status = 0;
      const bool reaped = ::waitpid(zygote_pid_, &status, WNOHANG) == zygote_pid_;
      zygote_pid_ = -1;
      throw Error("shmray: the fork server " + (reaped ? describe_exit(status) : std::string("ended")) +
                  " while starting workers");
    }
    if (std::chrono::steady_clock::now() > deadline) throw Error("shmray: workers did not start within 20 s");
    shm::futex_wait(&h.doorbell.value, seen, std::chrono::milliseconds(50));
  }
  std::lock_guard lock(mu_);
  watch_pool_locked();  // opens the first workers' pidfds
}

void Driver::start_fork_server(const std::vector<std::uint32_t>& slots) {
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
  cfg.log_to_driver = options_.log_to_driver;
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

void Driver::send_requests_locked() noexcept {
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

void Driver::watch_pool_locked() {
  // At most one system call per 20 ms for this, however often the doorbell rings (the
  // event thread's housekeeping pass bounds the delay to 200 ms).
  const auto now = std::chrono::steady_clock::now();
  if (zygote_pid_ > 0 && now - last_zygote_check_ >= std::chrono::milliseconds(20)) {
    last_zygote_check_ = now;
    if (zygote_pidfd_ >= 0 ? readable(zygote_pidfd_) : ::waitpid(zygote_pid_, nullptr, WNOHANG) != 0)
      on_fork_server_death_locked();
  }
  for (std::uint32_t w = 0; w < workers_.size(); ++w) {
    WorkerEnd& we = workers_[w];
    shm::WorkerControl& c = seg_.worker(w);
    if (we.alive && we.pidfd < 0) {
      const auto st = shm::load_acquire(c.state);
      const pid_t pid = shm::load_acquire(c.pid);  // written before its state left kStarting
      if (st != std::uint32_t(shm::WorkerState::kStarting) && st != std::uint32_t(shm::WorkerState::kDead) && pid > 0) {
        we.pid = pid;
        we.pidfd = pidfd_open(pid);
      }
    }
    if (!we.alive && we.respawn_pending && now >= we.respawn_at && broken_.empty() && zygote_fd_ >= 0) {
      we.respawn_pending = false;
      request_spawn(w);
    }
  }
  send_requests_locked();
}

void Driver::on_fork_server_death_locked() {
  int status = 0;
  std::string how = "ended";
  if (::waitpid(zygote_pid_, &status, WNOHANG) == zygote_pid_) how = describe_exit(status);
  for (int* fd : {&zygote_pidfd_, &zygote_fd_})
    if (*fd >= 0) ::close(*fd), *fd = -1;
  zygote_pid_ = -1;
  requests_.clear();
  // What it reported before dying (request_spawn now only marks the slots for the next one).
  while (auto r = exits_.try_pop()) handle_exit_locked(*r);
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
  // Then each is a worker death like any other: its tasks are retried (the usual retry
  // accounting) or fail with WorkerCrashedError, what it held is released.
  for (std::uint32_t w = 0; w < workers_.size(); ++w)
    if (workers_[w].alive) handle_exit_locked({w, workers_[w].pid, W_EXITCODE(0, SIGKILL), workers_[w].incarnation});
  if (stopping_.load(std::memory_order_acquire)) return;
  const auto now = std::chrono::steady_clock::now();
  while (!restarts_.empty() && now - restarts_.front() > kRestartWindow) restarts_.pop_front();
  restarts_.push_back(now);
  if (restarts_.size() > kMaxRestarts) {
    break_pool_locked("shmray: the fork server died " + std::to_string(restarts_.size()) + " times within " +
                      std::to_string(kRestartWindow.count()) + " s (last: " + how + "); the pool is stopped");
    return;
  }
  warn("shmray: the fork server " + how + "; starting a new one");
  std::vector<std::uint32_t> slots;
  for (std::uint32_t w = 0; w < workers_.size(); ++w)
    if (workers_[w].alive && shm::load_acquire(seg_.worker(w).state) == std::uint32_t(shm::WorkerState::kStarting))
      slots.push_back(w);
  // The slots go to the new fork server as its first workers: the spawn requests that
  // handle_exit_locked queued for them must not ask it a second time.
  requests_.clear();
  try {
    start_fork_server(slots);  // forked from this (the event) thread: see README, "Threads"
  } catch (const Error& e) {
    break_pool_locked(e.what());
  }
}

void Driver::break_pool_locked(const std::string& why) {
  if (!broken_.empty()) return;
  broken_ = why;
  warn(why);
  wire::ErrorRecord e;
  e.kind = wire::ErrorKind::kPool;
  e.message = why;
  const std::string payload = wire::encode(e);
  const auto bytes = std::as_bytes(std::span(payload.data(), payload.size()));
  for (std::uint32_t idx = 0; idx < v_.task_capacity; ++idx) {
    TaskInfo& info = tasks_[idx];
    if (!info.live) continue;
    if (info.hold) {
      finish_task_locked(idx);
      continue;
    }
    shm::TaskSlot& slot = v_.tasks[idx];
    std::uint64_t w = shm::load_acquire(slot.state);
    shm::TaskWord tw = shm::TaskWord::unpack(w);
    if (tw.gen != info.gen) continue;
    if (tw.state == shm::TaskState::kQueued) {
      shm::TaskWord next = tw;
      next.state = shm::TaskState::kCancelled;  // no worker may claim it any more
      if (!shm::cas(slot.state, w, next.pack())) tw = shm::TaskWord::unpack(w);
    }
    if (tw.state == shm::TaskState::kClaimed || tw.state == shm::TaskState::kDone) {
      // A worker still has it (an extra one): fail the result now, recycle the slot when it
      // reports (as a cancel does).
      if (write_payload_locked(info.result, shm::ObjectState::kFailed, bytes)) on_final_locked(info.result);
      continue;
    }
    fail_task_locked(idx, bytes);
  }
  for (auto* list : {&backlog_})
    while (!list->empty()) cancel_waiting_locked(list->front().result, *list, &payload);
  std::deque<BacklogTask> infeasible(std::make_move_iterator(infeasible_.begin()), std::make_move_iterator(infeasible_.end()));
  infeasible_.clear();
  while (!infeasible.empty()) cancel_waiting_locked(infeasible.front().result, infeasible, &payload);
}

void Driver::request_spawn(std::uint32_t slot) {
  shm::WorkerControl& c = seg_.worker(slot);
  reset_worker_rings(slot);
  WorkerEnd& we = workers_[slot];
  we.incarnation += 1;
  we.alive = true;
  we.pid = 0;
  c.pid = 0;
  c.depth = 0;
  c.current_task = 0;
  c.wants_supply = 0;
  c.kill_pending = 0;
  shm::store_release(c.incarnation, we.incarnation);
  shm::store_release(c.state, std::uint32_t(shm::WorkerState::kStarting));
  supply_locked(slot);
  requests_.push_back(std::uint64_t{wire::kSpawn} << 32 | slot);
  send_requests_locked();
}

void Driver::handle_exit_locked(const shm::ExitReport& r) {
  if (r.slot >= workers_.size()) return;
  WorkerEnd& we = workers_[r.slot];
  if (r.incarnation != we.incarnation || !we.alive) return;  // a report about an earlier process of the slot
  // What it posted before dying is whole (records are published only complete): take it.
  if (!we.corrupt) {
    for (;;) {
      shm::MessageReader::Message m;
      if (we.events.peek(m) != shm::MessageReader::Status::kMessage) break;
      handle_message_locked(r.slot, m);
      we.events.pop();
    }
  }
  we.alive = false;
  if (we.pidfd >= 0) ::close(we.pidfd);
  we.pidfd = -1;
  shm::store_release(seg_.worker(r.slot).state, std::uint32_t(shm::WorkerState::kDead));
  v_.spinning.clear(r.slot);  // it may have died idle: its bits must not look like a live idle worker
  v_.sleeping.clear(r.slot);
  const std::uint16_t owner = static_cast<std::uint16_t>(r.slot + 1);
  const std::string how = describe_exit(r.status);

  // Its tasks: finished ones are finished; a half-written result is discarded; the rest is
  // retried while retries are left, else fails with WorkerCrashedError.
  //
  // Inline execution must be invisible: a child run inline takes its parent's process down
  // when it crashes, which would not happen to a child run in a worker of its own. So only
  // the task that ran (current_task, the top of the worker's stack) is charged an attempt;
  // those under it (they only waited for it) run again free of charge, flagged
  // kTaskNoInline so that their new run leaves its children to other workers: the child is
  // then retried in a worker of its own and the parent gets its value, or its
  // WorkerCrashedError once its retries are spent. The parent's code thus runs more than
  // once (at least once semantics, as for any retried task). A flagged task that inlined
  // after all (no worker could be started) is charged like any other: retries stay bounded.
  // A worker force-cancelled (kill_pending names its outermost task, cancel.cpp) did not
  // crash: nothing of it is charged.
  const shm::WorkerControl& wc = seg_.worker(r.slot);
  const std::uint64_t top = shm::load_acquire(wc.current_task), kill = shm::load_acquire(wc.kill_pending);
  const bool cancel_kill = kill != 0 && kill == shm::load_acquire(wc.bottom_task);
  bool top_known = false;
  if (v_.valid_task_ref(top)) {
    const shm::TaskWord t = shm::TaskWord::unpack(shm::load_acquire(v_.tasks[shm::task_ref_index(top)].state));
    top_known = t.gen == shm::task_ref_gen(top) && t.owner == owner && t.state == shm::TaskState::kClaimed;
  }
  for (std::uint32_t idx = 0; idx < v_.task_capacity; ++idx) {
    shm::TaskSlot& slot = v_.tasks[idx];
    std::uint64_t w = shm::load_acquire(slot.state);
    shm::TaskWord tw = shm::TaskWord::unpack(w);
    if (tw.owner != owner || (tw.state != shm::TaskState::kClaimed && tw.state != shm::TaskState::kDone)) continue;
    TaskInfo& info = tasks_[idx];
    if (!info.live || info.gen != tw.gen) continue;
    if (info.hold) {
      // Its main task still needs the CPU while its result is open: queue the hold again
      // (a main still waiting for its holds may start one CPU short until it is claimed).
      if (v_.word(v_.objects[info.result.index()]).open()) {
        tw.state = shm::TaskState::kQueued;
        tw.owner = 0;
        shm::store_release(slot.state, tw.pack());
        push_dispatch_locked(shm::task_ref(idx, tw.gen));
        wake_worker();
      } else {
        finish_task_locked(idx);
      }
      continue;
    }
    shm::ObjectSlot& res = v_.objects[info.result.index()];
    shm::ObjectWord ow = v_.word(res);
    if (ow.final()) {
      finish_task_locked(idx);
      continue;
    }
    if (ow.state == shm::kObjWriting) {  // the dead process was the writer: reopen it
      ow.state = std::uint8_t(shm::ObjectState::kPending);
      shm::store_release(res.state, ow.pack());
    }
    const bool below = top_known && shm::task_ref(idx, tw.gen) != top;
    if (cancel_kill || (below && !(slot.task_flags & shm::kTaskNoInline))) {
      if (!cancel_kill) slot.task_flags |= shm::kTaskNoInline;  // before the queueing CAS publishes it
      tw.state = shm::TaskState::kWaiting;
      tw.owner = 0;
      shm::store_release(slot.state, tw.pack());
      queue_task_locked(idx);
      continue;
    }
    const std::uint32_t attempts = slot.attempt + 1;
    if (info.max_retries < 0 || attempts <= static_cast<std::uint32_t>(info.max_retries)) {
      slot.attempt = attempts;
      tw.state = shm::TaskState::kWaiting;
      tw.owner = 0;
      shm::store_release(slot.state, tw.pack());
      queue_task_locked(idx);
    } else {
      const detail::FunctionInfo* fn = detail::function_at(slot.function);
      wire::ErrorRecord e;
      e.kind = wire::ErrorKind::kWorkerCrashed;
      e.function = fn ? fn->name : "?";
      e.task_name = info.name;
      e.pid = r.pid;
      e.message = "shmray: the worker process running " + wire::task_label(e.function, info.name) + " (pid " +
                  std::to_string(r.pid) + ") " + how +
                  (info.max_retries == 0 ? std::string("; the task has max_retries=0")
                                         : "; no retry was left (max_retries=" + std::to_string(info.max_retries) + ")");
      const std::string payload = wire::encode(e);
      fail_task_locked(idx, std::as_bytes(std::span(payload.data(), payload.size())));
    }
  }
  // Slots it was given for its own submissions and did not report using.
  reclaim_supply_locked(r.slot);
  we.blocked = false;
  // References it held.
  for (auto& [raw, count] : we.holds)
    for (std::uint32_t k = 0; k < count; ++k) release_locked(ObjectId{raw});
  we.holds.clear();
  // Its arena spans: keep the blocks of live objects, free the rest.
  std::vector<std::uint64_t> live;
  for (std::uint32_t i = 0; i < object_hwm_; ++i) {
    const shm::ObjectSlot& s = v_.objects[i];
    if (s.data && v_.word(s).final()) live.push_back(s.data);
  }
  {
    std::lock_guard lock(heap_mu_);
    heap_.adopt_owner(shm::owner_of_worker(r.slot), live);
  }
  shm::futex_bump_and_wake_all(&v_.hot->arena_epoch.value);
  // A worker started while others were blocked is not replaced; a regular one is.
  if (we.extra) {
    we.extra = false;
    shm::store_relaxed(seg_.worker(r.slot).extra, 0u);
  } else if (is_fork_failure(r)) {
    // No worker came: try this slot again later; with no regular worker left at all, queued
    // tasks would wait forever: fail them, and later submissions, with the errno.
    we.respawn_pending = true;
    we.respawn_at = std::chrono::steady_clock::now() + kRespawnDelay;
    bool any = false;
    for (std::uint32_t s = 0; s < v_.geo.num_workers; ++s) any = any || workers_[s].alive;
    if (!any) break_pool_locked(fork_failed_message(r.pid));
  } else if (!stopping_.load(std::memory_order_acquire) && broken_.empty()) {
    request_spawn(r.slot);
  }
}

void Driver::stop_pool() noexcept {
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
