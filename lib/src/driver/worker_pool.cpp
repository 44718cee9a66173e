// The driver's side of the pool: starting the fork server, asking it for workers, and
// cleaning up after a worker that died: its tasks are retried or failed, its references
// released, its arena spans adopted, its rings reset, and a replacement requested.
#include <fcntl.h>
#include <signal.h>
#include <poll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <iostream>
#include <string>

#include "driver/driver.hpp"
#include "shm/futex.hpp"
#include "shmray/detail/registry.hpp"
#include "shmray/errors.hpp"
#include "workerproc/exit_codes.hpp"
#include "workerproc/fork_server.hpp"

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

void write_request(int fd, worker::ForkRequest req) noexcept {
  const char* p = reinterpret_cast<const char*>(&req);
  std::size_t left = sizeof req;
  while (left) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}

}  // namespace

void Driver::reset_worker_rings(std::uint32_t slot) {
  shm::WorkerControl& c = seg_.worker(slot);
  const shm::SegmentHeader& h = *v_.header;
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
}

void Driver::start_pool() {
  const std::uint32_t n = v_.header->num_workers;
  workers_.resize(v_.header->max_workers);
  for (std::uint32_t s = 0; s < workers_.size(); ++s) reset_worker_rings(s);
  for (std::uint32_t s = 0; s < n; ++s) {
    shm::WorkerControl& c = seg_.worker(s);
    c.incarnation = workers_[s].incarnation = 1;
    c.state = std::uint32_t(shm::WorkerState::kStarting);
    workers_[s].alive = true;
    std::lock_guard lock(mu_);
    supply_locked(s);  // slots for tasks submitted inside tasks, ready before it starts
  }
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw Error(std::string("shmray: pipe2 failed: ") + std::strerror(errno));
  worker::ForkServerConfig cfg;
  cfg.driver_pid = ::getpid();
  cfg.initial_workers = n;
  cfg.log_to_driver = options_.log_to_driver;
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);  // or the children would print what the driver had buffered, again
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    throw Error(std::string("shmray: fork of the fork server failed: ") + std::strerror(errno));
  }
  if (pid == 0) {
    ::close(fds[1]);
    worker::fork_server_main(seg_, fds[0], cfg);
  }
  ::close(fds[0]);
  zygote_pid_ = pid;
  zygote_fd_ = fds[1];
  v_.header->zygote_pid = pid;

  // Wait until every first worker has checked the layout and is ready (they ring the doorbell).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  shm::SegmentHeader& h = *v_.header;
  for (;;) {
    const std::uint32_t seen = shm::atom(h.doorbell.value).load(std::memory_order_seq_cst);
    std::uint32_t ready = 0;
    for (std::uint32_t s = 0; s < n; ++s)
      ready += shm::load_acquire(seg_.worker(s).state) != std::uint32_t(shm::WorkerState::kStarting);
    if (ready == n) break;
    int status = 0;
    if (::waitpid(zygote_pid_, &status, WNOHANG) == zygote_pid_) {
      zygote_pid_ = -1;
      throw Error("shmray: the fork server " + describe_exit(status) + " while starting workers");
    }
    if (std::chrono::steady_clock::now() > deadline) throw Error("shmray: workers did not start within 20 s");
    shm::futex_wait(&h.doorbell.value, seen, std::chrono::milliseconds(50));
  }
  // A worker that failed its layout check exits at once; its report is in the exits ring.
  while (auto r = exits_.try_pop()) {
    if (WIFEXITED(r->status) && WEXITSTATUS(r->status) == worker::kExitBadLayout)
      throw Error("shmray: a worker refused the shared segment (layout version mismatch)");
    std::lock_guard lock(mu_);
    handle_exit_locked(*r);
  }
  for (std::uint32_t s = 0; s < n; ++s) workers_[s].pid = seg_.worker(s).pid;
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
  shm::store_release(c.incarnation, we.incarnation);
  shm::store_release(c.state, std::uint32_t(shm::WorkerState::kStarting));
  supply_locked(slot);
  if (zygote_fd_ >= 0) write_request(zygote_fd_, {worker::kSpawn, slot});
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
  shm::store_release(seg_.worker(r.slot).state, std::uint32_t(shm::WorkerState::kDead));
  v_.spinning.clear(r.slot);  // it may have died idle: its bits must not look like a live idle worker
  v_.sleeping.clear(r.slot);
  const std::uint16_t owner = static_cast<std::uint16_t>(r.slot + 1);
  const std::string how = describe_exit(r.status);

  // Its tasks: finished ones are finished; a half-written result is discarded; the rest is
  // retried while retries are left, else fails with WorkerCrashedError.
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
  shm::futex_bump_and_wake_all(&v_.header->arena_epoch.value);
  // A worker started while others were blocked is not replaced; a regular one is.
  if (we.extra) {
    we.extra = false;
    shm::store_relaxed(seg_.worker(r.slot).extra, 0u);
  } else if (!stopping_.load(std::memory_order_acquire)) {
    request_spawn(r.slot);
  }
}

void Driver::stop_pool() noexcept {
  if (zygote_fd_ >= 0) {
    write_request(zygote_fd_, {worker::kShutdown, 0});
    ::close(zygote_fd_);
    zygote_fd_ = -1;
  }
  if (zygote_pid_ > 0) {
    // The fork server kills and reaps every worker before it exits; give it 10 s.
    const int pfd = static_cast<int>(::syscall(SYS_pidfd_open, zygote_pid_, 0));
    if (pfd >= 0) {
      pollfd p{pfd, POLLIN, 0};
      while (::poll(&p, 1, 10'000) < 0 && errno == EINTR) {
      }
      ::close(pfd);
    }
    int status = 0;
    if (::waitpid(zygote_pid_, &status, WNOHANG) != zygote_pid_) {
      ::kill(zygote_pid_, SIGKILL);
      while (::waitpid(zygote_pid_, &status, 0) < 0 && errno == EINTR) {
      }
    }
    zygote_pid_ = -1;
  }
}

}  // namespace shmray::driver
