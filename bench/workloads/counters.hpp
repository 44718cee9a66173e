#pragma once
// strace / perf counting of system calls, per process of the pool.
#include "common.hpp"

namespace bench {

/// One process of the pool as counted by syscalls_per_task.
struct Counted {
  std::string role;  // driver | fork_server | worker
  pid_t pid = 0;
};

/// `strace -c` summary: total calls and calls per syscall name.
struct StraceCounts {
  long long total = 0;
  std::vector<std::pair<std::string, long long>> by_call;
};
/// Parses a `strace -c` summary file; nullopt when it is not one.
std::optional<StraceCounts> parse_strace_c(const std::string& path);

/// Runs `body` with one `strace -c -f -q -p PID` per process in `who` (each counted apart):
/// attached (every thread's TracerPid is its strace) before `body`, detached with SIGINT after
/// it, which makes strace write its summary. Returns the counts per process, or why not. The
/// counts include what the driver does around `body` to attach and detach (some tens of
/// calls): syscalls_per_task subtracts an idle window counted the same way.
std::optional<std::vector<StraceCounts>> strace_counts(const std::vector<Counted>& who, const TempDir& dir,
                                                       const std::string& tag, const std::function<void()>& body,
                                                       std::string& why_not);

/// Cross-check without ptrace: `perf stat -e raw_syscalls:sys_enter --per-thread` on the same
/// processes, counting only while `body` runs (started disabled, enabled and disabled through
/// perf's --control FIFOs, each acknowledged). Counts per process of `who`; needs the
/// tracepoint (root or perf_event_paranoid <= -1) and tracefs.
std::optional<std::vector<long long>> perf_counts(const std::vector<Counted>& who, const TempDir& dir,
                                                  const std::string& tag, const std::function<void()>& body,
                                                  std::string& why_not);

}  // namespace bench
