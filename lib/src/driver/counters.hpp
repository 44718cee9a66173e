#pragma once
// Cumulative task counters of the driver, for stats(), the dashboard and /metrics. Written by
// the driver only, with Driver::mu_ held (so a plain load + store, no locked instruction);
// read by anyone at any time with relaxed loads (a reader sees each counter a moment late,
// never torn). Sized once at start for the registry as it was sealed by init(): no
// allocation, no lock and no hash on the per-task path, one histogram bucket found by a
// short scan of fixed bounds.
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace shmray::driver {

/// Upper bounds (ns) of the latency histogram buckets; one more bucket counts the rest (+Inf).
inline constexpr std::array<std::uint64_t, 20> kLatencyBoundsNs = {
    10'000,      25'000,       50'000,       100'000,       250'000,        500'000,       1'000'000,
    2'500'000,   5'000'000,    10'000'000,   25'000'000,    50'000'000,     100'000'000,   250'000'000,
    500'000'000, 1000'000'000, 2500'000'000, 5'000'000'000, 10'000'000'000, 60'000'000'000};
inline constexpr std::size_t kLatencyBuckets = kLatencyBoundsNs.size() + 1;

enum class Outcome : std::uint8_t { kFinished, kFailed, kCancelled };

/// One function's counts (finished, failed, cancelled) and latency histogram (submission to
/// result, for finished and failed tasks).
struct FunctionCounters {
  std::atomic<std::uint64_t> finished{0}, failed{0}, cancelled{0};
  std::atomic<std::uint64_t> latency_sum_ns{0};
  std::array<std::atomic<std::uint64_t>, kLatencyBuckets> buckets{};
};

inline void bump(std::atomic<std::uint64_t>& c, std::uint64_t by = 1) noexcept {
  c.store(c.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
}

class Counters {
 public:
  /// `names`: the registry's function names by index (index `names.size()` counts the rest).
  explicit Counters(std::vector<std::string> names)
      : names_(std::move(names)), fns_(std::make_unique<FunctionCounters[]>(names_.size() + 1)) {}

  /// A task left the driver. `latency_ns` 0: unknown (not recorded in the histogram).
  void record(std::uint32_t function, Outcome o, std::uint64_t latency_ns) noexcept {
    FunctionCounters& f = fns_[function < names_.size() ? function : names_.size()];
    switch (o) {
      case Outcome::kFinished: bump(f.finished), bump(finished); break;
      case Outcome::kFailed: bump(f.failed), bump(failed); break;
      case Outcome::kCancelled: bump(f.cancelled), bump(cancelled); return;
    }
    if (latency_ns == 0) return;
    std::size_t b = 0;
    while (b < kLatencyBoundsNs.size() && latency_ns > kLatencyBoundsNs[b]) ++b;
    bump(f.buckets[b]);
    bump(f.latency_sum_ns, latency_ns);
  }

  std::size_t functions() const noexcept { return names_.size() + 1; }
  /// The name of function index `i`; "(other)" for the last.
  const std::string& name(std::size_t i) const noexcept { return i < names_.size() ? names_[i] : other_; }
  const FunctionCounters& at(std::size_t i) const noexcept { return fns_[i]; }

  std::atomic<std::uint64_t> finished{0}, failed{0}, cancelled{0};
  std::atomic<std::uint64_t> retries{0};   // re-runs after the worker process died
  std::atomic<std::uint64_t> restarts{0};  // worker processes started again after one died

 private:
  std::vector<std::string> names_;
  std::string other_ = "(other)";
  std::unique_ptr<FunctionCounters[]> fns_;
};

}  // namespace shmray::driver
