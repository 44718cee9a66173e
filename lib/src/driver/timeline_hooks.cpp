// Where the driver feeds the timeline (timeline.hpp): the workers' rings on each pass and
// before a TaskDone is handled (the task is still in the table then), a dead worker's open
// attempts, the driver's own blocks, and the file at shutdown or on shmray::timeline().
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "driver/driver.hpp"
#include "shm/futex.hpp"
#include "shmray/errors.hpp"

namespace shmray::driver {

void Driver::drain_timeline_locked(std::uint32_t w) {
  if (!timeline_.on()) return;
  std::int32_t pid = pool_[w].pid;
  if (pid <= 0) pid = shm::load_relaxed(seg_.worker(w).pid);  // announced, not yet seen by the driver: a label only
  timeline_.drain_locked(w, pid, tasks_);
}

void Driver::drain_timelines_locked() {
  if (!timeline_.on()) return;
  for (std::uint32_t w = 0; w < pool_.size(); ++w) drain_timeline_locked(w);
}

std::vector<TimelineEvent> Driver::end_timeline_locked(std::uint32_t w, std::uint64_t now_ns) {
  if (!timeline_.on()) return {};
  drain_timeline_locked(w);
  // A force cancel (cancel.cpp: kill_pending names its outermost task) is no crash.
  const shm::WorkerControl& wc = seg_.worker(w);
  const std::uint64_t kill = shm::load_acquire(wc.kill_pending);
  const bool killed = kill != 0 && kill == shm::load_acquire(wc.bottom_task);
  return timeline_.end_open_locked(w, now_ns, killed, tasks_);
}

void Driver::note_block(const char* what, std::span<const ObjectId> ids, std::uint64_t start_ns) noexcept {
  if (!timeline_.on()) return;
  const std::uint64_t end = shm::now_ns();
  if (end - start_ns < 1000) return;  // answered at once (under 1 us): not a block
  DriverBlock b;
  b.tid = static_cast<std::int32_t>(::syscall(SYS_gettid));
  b.start_ns = start_ns;
  b.end_ns = end;
  b.what = what;
  b.first = ids.empty() ? 0 : ids.front().value;
  b.objects = static_cast<std::uint32_t>(ids.size());
  try {
    timeline_.driver_block(b);
  } catch (...) {  // out of memory: the block is not shown
  }
}

void Driver::write_timeline(const std::string& path) {
  std::vector<TimelineEvent> running;
  {
    std::lock_guard lock(mu_);
    pump_locked();
    drain_timelines_locked();
    running = timeline_.open_now_locked(shm::now_ns(), tasks_);
  }
  if (!timeline_.write(path, ::getpid(), v_.geo.pool_slots, running))
    throw Error("shmray::timeline: cannot write " + path + ": " + std::strerror(errno));
}

void Driver::write_timeline_at_shutdown() noexcept {
  if (!timeline_.on() || options_.timeline.empty()) return;
  try {
    std::vector<TimelineEvent> running;
    {
      std::lock_guard lock(mu_);
      drain_timelines_locked();
      running = timeline_.open_now_locked(shm::now_ns(), tasks_);
    }
    if (!timeline_.write(options_.timeline, ::getpid(), v_.geo.pool_slots, running))
      warn("shmray: cannot write the timeline to " + options_.timeline + ": " + std::strerror(errno));
  } catch (const std::exception& e) {
    warn(std::string("shmray: the timeline was not written: ") + e.what());
  }
}

}  // namespace shmray::driver
