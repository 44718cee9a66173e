// Counting a pool's system calls from outside: strace -c and perf stat, attached to the
// processes of the pool while a body runs (syscalls_per_task).
#include "counters.hpp"

namespace bench {

std::optional<StraceCounts> parse_strace_c(const std::string& path) {
  if (!file_exists(path)) return std::nullopt;
  std::istringstream in(read_text(path));  // strace -c writes nothing at all for no syscalls
  StraceCounts s;
  bool any = false, total_line = false;
  for (std::string line; std::getline(in, line);) {
    std::istringstream ls(line);
    std::vector<std::string> tok;
    for (std::string t; ls >> t;) tok.push_back(t);
    // "% time seconds usecs/call calls [errors] syscall"
    if (tok.size() < 5 || tok[0] == "%" || tok[0].find_first_not_of('-') == std::string::npos) continue;
    char* end = nullptr;
    std::strtod(tok[0].c_str(), &end);
    if (*end) continue;
    const long long calls = std::strtoll(tok[3].c_str(), nullptr, 10);
    any = true;
    if (tok.back() == "total") {
      s.total = calls, total_line = true;
    } else {
      s.by_call.push_back({tok.back(), calls});
    }
  }
  if (!total_line)
    for (const auto& [name, k] : s.by_call) s.total += k;
  if (!any && read_text(path).find_first_not_of(" \n") != std::string::npos) return std::nullopt;  // not a summary
  std::sort(s.by_call.begin(), s.by_call.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  return s;
}

/// Runs `body` with one `strace -c -f -q -p PID` per process in `who` (each counted apart):
/// attached (every thread's TracerPid is its strace) before `body`, detached with SIGINT after
/// it, which makes strace write its summary. Returns the counts per process, or why not. The
/// counts include what the driver does around `body` to attach and detach (some tens of
/// calls): syscalls_per_task subtracts an idle window counted the same way.
std::optional<std::vector<StraceCounts>> strace_counts(const std::vector<Counted>& who, const TempDir& dir,
                                                       const std::string& tag, const std::function<void()>& body,
                                                       std::string& why_not) {
  std::vector<std::unique_ptr<ChildProgram>> tracers(who.size());
  std::vector<std::string> outs(who.size());
  auto start = [&](std::size_t i) {
    const std::string base = dir.path + "/strace." + tag + "." + std::to_string(i);
    outs[i] = base + ".txt";
    tracers[i] = std::make_unique<ChildProgram>(
        std::vector<std::string>{"strace", "-c", "-f", "-q", "-o", outs[i], "-p", std::to_string(who[i].pid)},
        base + ".log");
    if (tracers[i]->spawn_error())
      why_not = "cannot run strace: " + std::string(std::strerror(tracers[i]->spawn_error())) +
                " (install it: apt-get install strace)";
    return tracers[i]->spawn_error() == 0;
  };
  // Attached = every thread of the process has its strace as TracerPid.
  auto attach = [&](std::size_t from, std::size_t to) {
    for (std::size_t i = from; i < to; ++i)
      if (!start(i)) return false;
    std::string problem;
    const bool ok = wait_for(
        [&] {
          for (std::size_t i = from; i < to; ++i) {
            if (!tracers[i]->running()) {
              problem = "strace -p " + std::to_string(who[i].pid) + " (" + who[i].role +
                        ") ended before attaching: " + tracers[i]->log_head();
              return true;
            }
            for (pid_t tid : proc::threads(who[i].pid))
              if (proc::tracer_pid(who[i].pid, tid).value_or(0) != tracers[i]->pid()) return false;
          }
          return true;
        },
        10.0);
    if (problem.empty() && ok) return true;
    why_not = problem.empty() ? "strace did not attach to every thread within 10 s (ptrace restricted?)" : problem;
    return false;
  };
  auto summary = [&](std::size_t i, std::vector<StraceCounts>& out) {
    const int status = tracers[i]->stop(SIGINT, 10.0);  // strace detaches, writes the summary
    auto counts = parse_strace_c(outs[i]);
    if (!counts) {
      why_not = "no strace -c summary for " + who[i].role + " (wait status " + std::to_string(status) +
                "): " + tracers[i]->log_head();
      return false;
    }
    out[i] = std::move(*counts);
    return true;
  };
  // who[0] is the driver: traced last and released first, so that the driver's own steps of
  // this procedure (watching TracerPid, stopping strace) add as few calls as possible.
  if (!attach(1, who.size()) || !attach(0, 1)) return std::nullopt;
  body();
  std::vector<StraceCounts> out(who.size());
  if (!summary(0, out)) return std::nullopt;
  for (std::size_t i = 1; i < who.size(); ++i)
    if (!summary(i, out)) return std::nullopt;
  return out;
}

/// Cross-check without ptrace: `perf stat -e raw_syscalls:sys_enter --per-thread` on the same
/// processes, counting only while `body` runs (started disabled, enabled and disabled through
/// perf's --control FIFOs, each acknowledged). Counts per process of `who`; needs the
/// tracepoint (root or perf_event_paranoid <= -1) and tracefs.
std::optional<std::vector<long long>> perf_counts(const std::vector<Counted>& who, const TempDir& dir,
                                                  const std::string& tag, const std::function<void()>& body,
                                                  std::string& why_not) {
  std::map<pid_t, std::size_t> owner;  // tid -> index in who
  std::string pids;
  for (std::size_t i = 0; i < who.size(); ++i) {
    for (pid_t tid : proc::threads(who[i].pid)) owner[tid] = i;
    pids += (pids.empty() ? "" : ",") + std::to_string(who[i].pid);
  }
  const std::string base = dir.path + "/perf." + tag;
  const std::string ctl = base + ".ctl", ack = base + ".ack", out = base + ".txt";
  if (::mkfifo(ctl.c_str(), 0600) != 0 || ::mkfifo(ack.c_str(), 0600) != 0) {
    why_not = std::string("mkfifo: ") + std::strerror(errno);
    return std::nullopt;
  }
  // O_RDWR: a FIFO open that never blocks, whoever comes first.
  const int ctl_fd = ::open(ctl.c_str(), O_RDWR | O_CLOEXEC), ack_fd = ::open(ack.c_str(), O_RDWR | O_CLOEXEC);
  struct Fds {
    int a, b;
    ~Fds() {
      if (a >= 0) ::close(a);
      if (b >= 0) ::close(b);
    }
  } fds{ctl_fd, ack_fd};
  if (ctl_fd < 0 || ack_fd < 0) {
    why_not = std::string("open FIFO: ") + std::strerror(errno);
    return std::nullopt;
  }
  ChildProgram perf({"perf", "stat", "-e", "raw_syscalls:sys_enter", "--per-thread", "-x,", "-o", out, "-D", "-1",
                     "--control", "fifo:" + ctl + "," + ack, "-p", pids},
                    base + ".log");
  if (perf.spawn_error()) {
    why_not = "cannot run perf: " + std::string(std::strerror(perf.spawn_error()));
    return std::nullopt;
  }
  auto command = [&](const char* cmd) {
    const std::string line = std::string(cmd) + "\n";
    if (::write(ctl_fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) return false;
    std::string got;
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    while (got.find("ack\n") == std::string::npos && Clock::now() < deadline) {
      pollfd p{ack_fd, POLLIN, 0};
      if (::poll(&p, 1, 100) > 0) {
        char buf[64];
        const ssize_t k = ::read(ack_fd, buf, sizeof buf);
        if (k > 0) got.append(buf, std::size_t(k));
      }
      if (!perf.running()) return false;
    }
    return got.find("ack\n") != std::string::npos;
  };
  if (!command("enable")) {
    why_not = "perf stat did not acknowledge 'enable' within 10 s: " + perf.log_head();
    return std::nullopt;
  }
  body();
  if (!command("disable")) {
    why_not = "perf stat did not acknowledge 'disable': " + perf.log_head();
    return std::nullopt;
  }
  perf.stop(SIGINT, 10.0);
  // "<comm>-<tid>,<count>,,raw_syscalls:sys_enter,..." per thread
  std::vector<long long> counts(who.size(), 0);
  bool any = false;
  std::istringstream in(read_text(out));
  for (std::string line; std::getline(in, line);) {
    const auto comma = line.find(',');
    const auto dash = line.rfind('-', comma);
    if (comma == std::string::npos || dash == std::string::npos ||
        line.find("raw_syscalls:sys_enter") == std::string::npos)
      continue;
    const pid_t tid = static_cast<pid_t>(std::strtol(line.c_str() + dash + 1, nullptr, 10));
    const long long k = std::strtoll(line.c_str() + comma + 1, nullptr, 10);  // "<not counted>" -> 0
    any = true;
    if (auto it = owner.find(tid); it != owner.end()) counts[it->second] += k;
  }
  if (!any) {
    why_not = "no per-thread lines in perf's output: " + read_text(out).substr(0, 300) + perf.log_head();
    return std::nullopt;
  }
  return counts;
}

}  // namespace bench
