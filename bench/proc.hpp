#pragma once
// Reading other processes' state, CPU time, memory and context switches from /proc, for
// idle_cpu_percent, worker_rss_mib, worker_crash_retry_s, queued_1m_s and syscalls_per_task.
// The pool's process tree: driver (this process) -> fork server ("shmray-forksrv", our
// child) -> workers ("shmray-worker", its children).
#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bench::proc {

/// Children of `parent` (any thread of it) whose comm equals `comm` (all when empty), by
/// scanning /proc/*/stat: works without CONFIG_PROC_CHILDREN.
std::vector<pid_t> children(pid_t parent, std::string_view comm = {});

/// utime + stime of the whole process (all threads), in seconds: fields 14 and 15 of
/// /proc/<pid>/stat, in clock ticks (usually 10 ms).
std::optional<double> cpu_seconds(pid_t pid);
/// Time on a CPU of every thread of the process, ns-precise: sum over /proc/<pid>/task/*/schedstat.
std::optional<double> schedstat_seconds(pid_t pid);
/// This process's user + system time (getrusage RUSAGE_SELF: every thread).
double self_cpu_seconds();

struct Memory {
  double vm_rss_mib = 0;     // /proc/<pid>/status VmRSS
  double rss_anon_mib = 0;   // RssAnon: private + copy-on-write anonymous pages
  double rss_file_mib = 0;   // RssFile: mapped files (libraries, the executable)
  double rss_shmem_mib = 0;  // RssShmem: shared memory (the object store segment)
  double pss_mib = 0;        // /proc/<pid>/smaps_rollup Pss: shared pages divided among sharers
  double private_mib = 0;    // Private_Clean + Private_Dirty: pages only this process maps
};
std::optional<Memory> memory(pid_t pid);

/// "model name" of /proc/cpuinfo.
std::string cpu_model();

/// Field 3 of /proc/<pid>/stat ('R', 'S', 'Z', ...); nullopt when the process is gone.
std::optional<char> state(pid_t pid);
/// The process exists and is not a zombie.
bool alive(pid_t pid);
/// alive() and its comm is `comm` (one read of /proc/<pid>/stat).
bool alive_named(pid_t pid, std::string_view comm);
/// Children of the thread `pid` of process `pid` from /proc/<pid>/task/<pid>/children
/// (CONFIG_PROC_CHILDREN): one small read, cheap enough to poll every millisecond. Falls back
/// to children() when the file is missing. Zombies included; filter with alive().
std::vector<pid_t> children_fast(pid_t pid);
/// Thread ids of a process (/proc/<pid>/task).
std::vector<pid_t> threads(pid_t pid);
/// voluntary + nonvoluntary context switches summed over every thread of the process
/// (/proc/<pid>/task/*/status: the process-level status file counts the main thread only).
struct CtxSwitches {
  unsigned long long voluntary = 0, nonvoluntary = 0;
};
std::optional<CtxSwitches> ctxt_switches(pid_t pid);
/// TracerPid of one thread (0: not traced).
std::optional<pid_t> tracer_pid(pid_t pid, pid_t tid);
/// A "Key:   123 kB" field of /proc/<pid>/status, in MiB (VmHWM, VmRSS, RssAnon, ...).
std::optional<double> status_mib(pid_t pid, const std::string& key);
/// Resets this process's VmHWM (peak RSS) to its current RSS: "5" into /proc/self/clear_refs
/// (Linux >= 4.0). False when that is not possible.
bool reset_peak_rss();

}  // namespace bench::proc
