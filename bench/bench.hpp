#pragma once
// Shared types of shmray_bench: parameters per mode, one workload's result, the repetition
// rule, and the workload registry.
//
// The workloads, their names, parameters and timed windows are those of the peers' harness
// (/work/shared/peers/README.md and peers.py), so that a run of this program and a run of
// peers.py compare line by line. Adding a workload = one function in workloads/<concern>.cpp,
// declared in workloads/workloads.hpp, plus one entry in the table of workloads/registry.cpp.
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "json.hpp"

namespace bench {

using Clock = std::chrono::steady_clock;  // monotonic, ns resolution (peers: time.perf_counter)

/// Parameters of one mode. Field names and values mirror PARAMS in peers.py; the ones marked
/// "ours" exist only here (workloads the peers do not run).
struct Params {
  std::string mode;  // "full" or "quick"
  int max_reps = 10;
  double rep_budget_s = 5.0;
  int startup_reps = 3;
  int sync_n = 2000, sync_reps = 3, sync_warmup_n = 100;
  int async_n = 20000, async_reps = 3, async_warmup_n = 1000;
  bool warmup = true;  // one untimed warm-up run of batch, wait_1k, put, pipeline
  int batch_size = 1000, batch_reps = 5;
  int wait_n = 1000, wait_reps = 5;
  int put_reps = 5;
  int pipeline_reps = 5;
  double demo_unit_s = 0.1;
  int demo_reps = 3;
  int fib_n = 15, fib_reps = 3;
  double fib_limit_s = 120.0;
  int cancel_reps = 5;
  double cancel_new_task_limit_s = 5.0;
  int crash_reps = 2;
  double crash_limit_s = 15.0;
  // ours
  double idle_window_s = 5.0;  // idle_cpu_percent: length of one measurement
  int idle_reps = 3;
  int crash_retry_reps = 5;                   // worker_crash_retry_s: repetitions (fresh pool each)
  int queued_n = 1000000, queued_reps = 3;    // queued_1m_s: tasks in flight at once
  int syscalls_n = 20000, syscalls_reps = 3;  // syscalls_per_task: async tasks per counted run
  int actor_async_n = 10000;                  // actor_calls_async_per_s: calls per repetition
  int actor_create_reps = 20;                 // actor_create_s: actors created (one per repetition)
  int drain_n = 20000, drain_reps = 3;  // drain_20k_one_by_one_s, as_completed_20k_s, as_completed_one_by_one_20k_s
  int release_reps = 7;                 // release_latency_ms: repetitions
  int fail_fast_reps = 5;               // get_list_fail_fast_s: repetitions (a worker replaced each)
  double workload_limit_s = 600.0;      // watchdog per workload (peers: per child)

  static Params full();
  static Params quick();
  Json to_json() const;
};

/// What one workload produced. Serialized like a peers.py workload entry.
struct Result {
  std::string status = "ok";    // ok | unsupported | hang | blocked | failed | error
  std::string unit;             // set by the runner from Workload::unit when status is ok
  std::vector<double> values;   // one per timed repetition (rates: count/elapsed of that rep)
  Json extra = Json::object();  // per-workload fields (n, bytes, details, ...)
  std::string note;             // how the figure was obtained
  std::string reason;           // why the status is not ok
  double wall_s = 0;            // whole workload, warm-ups and checks included
  // Table only (not in the JSON, which has the same facts in `extra`): text after the cell,
  // as peers.py's cell_text adds it (" ok", " task stopped", " WorkerCrashedError"), and
  // indented rows printed right below this one (peers.py's "  crash: retries" rows).
  std::string cell_suffix;
  std::vector<std::pair<std::string, std::string>> sub_rows;

  /// The unit is filled in by the runner from the registry entry.
  static Result ok(std::vector<double> values) {
    Result r;
    r.values = std::move(values);
    return r;
  }
  static Result unsupported(std::string reason) {
    Result r;
    r.status = "unsupported";
    r.reason = std::move(reason);
    return r;
  }
};

/// The peers' repetition rule: at least `min` repetitions; with `adaptive`, more (up to
/// max_reps) while the timed windows so far add up to less than rep_budget_s. In quick mode
/// max_reps is 1 and the budget 0, so this yields exactly `min` (= 1).
class Reps {
 public:
  Reps(const Params& p, int min_reps, bool adaptive = true)
      : min_(min_reps), max_(adaptive ? std::max(min_reps, p.max_reps) : min_reps), budget_(p.rep_budget_s) {}
  bool more() const { return n_ < min_ || (n_ < max_ && spent_ < budget_); }
  void add(double timed_s) {
    ++n_;
    spent_ += timed_s;
  }

 private:
  int min_, max_;
  double budget_;
  int n_ = 0;
  double spent_ = 0;
};

/// Seconds since construction.
class Stopwatch {
 public:
  double seconds() const { return std::chrono::duration<double>(Clock::now() - t0_).count(); }

 private:
  Clock::time_point t0_ = Clock::now();
};

/// Which pool a workload runs on. The runner keeps one warmed pool of --workers workers for
/// every kShared workload (as peers.py does); a kOwn workload starts and stops its own pools,
/// so the runner shuts the shared pool down first.
enum class Pool { kShared, kOwn };

struct Context {
  const Params& p;
  unsigned workers = 2;         // --workers
  std::size_t store_bytes = 0;  // 0: the library default (1 GiB)
};

/// A workload's self-check failed (a wrong result): the runner reports status "failed"
/// (any other exception: "error").
struct CheckFailed : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Progress on stderr (the table goes to stdout).
void progress(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

struct Workload {
  const char* name;
  const char* unit;
  Pool pool;
  Result (*run)(const Context&);
};

/// Every workload, in run order (= table order): peers.py's order, then ours.
const std::vector<Workload>& registry();

/// init() a pool and warm it as peers.py warms its shared pool (8 no-op tasks submitted and
/// gathered). Throws what init throws.
void start_warm_pool(unsigned workers, std::size_t store_bytes, const std::string& timeline = {});

// report.cpp
double median(std::vector<double> v);
std::string format_number(double x);  // peers.py fmt_num
std::string short_cell(const Result& r);
Json result_json(const Result& r);
struct Row {
  std::string name;
  const Result* result;
};
void print_table(const std::vector<Row>& rows, const Json& meta);

}  // namespace bench
