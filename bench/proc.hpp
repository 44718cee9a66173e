#pragma once
// Reading other processes' CPU time and memory from /proc, for idle_cpu_percent and
// worker_rss_mib. The pool's process tree: driver (this process) -> fork server
// ("shmray-forksrv", our child) -> workers ("shmray-worker", its children).
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
  double vm_rss_mib = 0;    // /proc/<pid>/status VmRSS
  double rss_anon_mib = 0;  // RssAnon: private + copy-on-write anonymous pages
  double rss_file_mib = 0;  // RssFile: mapped files (libraries, the executable)
  double rss_shmem_mib = 0; // RssShmem: shared memory (the object store segment)
  double pss_mib = 0;       // /proc/<pid>/smaps_rollup Pss: shared pages divided among sharers
  double private_mib = 0;   // Private_Clean + Private_Dirty: pages only this process maps
};
std::optional<Memory> memory(pid_t pid);

/// "model name" of /proc/cpuinfo.
std::string cpu_model();

}  // namespace bench::proc
