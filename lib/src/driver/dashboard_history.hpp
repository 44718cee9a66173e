#pragma once
// The dashboard's memory of the last seconds, kept by its sampler (every 100 ms, on the
// server's thread; no lock: only that thread touches it): what each worker ran at each
// sample (the task-stream chart), tasks done (throughput), since when a worker runs its
// current task, and each worker's CPU and RSS from /proc (every second).
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "driver/observe.hpp"

namespace shmray::driver {

class History {
 public:
  static constexpr double kInterval = 0.1;      // seconds between samples
  static constexpr std::size_t kSamples = 300;  // 30 s

  /// One sample at monotonic time `t` (seconds): `workers` as observed now, `done` tasks
  /// finished, failed or cancelled so far.
  void sample(double t, const std::vector<WorkerView>& workers, std::uint64_t done);

  /// Tasks done per second over the last second (0 before two samples).
  double throughput() const;
  /// Seconds worker `slot` has run its current task (0 when idle or unknown).
  double running_for(std::uint32_t slot, std::uint64_t task_ref, double now) const;
  struct Proc {
    double cpu_percent = 0;
    std::uint64_t rss_bytes = 0;
  };
  Proc proc(std::uint32_t slot) const;
  /// The task-stream as JSON: {"interval_s":..,"samples":N,"rows":[{"slot":..,"pid":..,"cells":[..]}]},
  /// a cell being the function index run at that sample, -1 idle, -2 blocked in get/wait, null absent.
  std::string stream_json() const;

 private:
  struct Sample {
    double t = 0;
    std::uint64_t done = 0;
    std::vector<std::pair<std::uint32_t, std::int32_t>> cells;  // (slot, code)
  };
  struct Slot {
    pid_t pid = 0;
    std::uint64_t task_ref = 0;
    double since = 0;
    std::uint64_t cpu_ticks = 0;
    double cpu_at = 0;
    Proc proc;
  };
  void read_proc(Slot& s, double t);

  std::vector<Sample> ring_ = std::vector<Sample>(kSamples);
  std::size_t next_ = 0, count_ = 0;
  std::unordered_map<std::uint32_t, Slot> slots_;
  std::size_t ticks_ = 0;
};

}  // namespace shmray::driver
