#include "proc.hpp"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace bench::proc {

namespace {

std::optional<std::string> read_all(const std::string& path) {
  std::ifstream f(path);
  if (!f) return std::nullopt;
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Directory entries of `dir` that are numbers (pids / tids).
std::vector<pid_t> numeric_entries(const char* dir) {
  std::vector<pid_t> out;
  DIR* d = ::opendir(dir);
  if (!d) return out;
  while (const dirent* e = ::readdir(d)) {
    char* end = nullptr;
    const long v = std::strtol(e->d_name, &end, 10);
    if (end != e->d_name && *end == '\0' && v > 0) out.push_back(static_cast<pid_t>(v));
  }
  ::closedir(d);
  return out;
}

struct StatLine {
  std::string comm;
  char state = '?';
  pid_t ppid = 0;
  unsigned long long utime = 0, stime = 0;
};

// /proc/<pid>/stat: "pid (comm) state ppid ...": comm may hold spaces and ')', so fields are
// counted from the last ')'.
std::optional<StatLine> read_stat(pid_t pid) {
  auto text = read_all("/proc/" + std::to_string(pid) + "/stat");
  if (!text) return std::nullopt;
  const auto open = text->find('(');
  const auto close = text->rfind(')');
  if (open == std::string::npos || close == std::string::npos || close < open) return std::nullopt;
  StatLine s;
  s.comm = text->substr(open + 1, close - open - 1);
  std::istringstream rest(text->substr(close + 1));
  std::string field;
  // Fields after comm: 3 state, 4 ppid, ..., 14 utime, 15 stime.
  for (int k = 3; k <= 15 && (rest >> field); ++k) {
    if (k == 3) s.state = field.empty() ? '?' : field[0];
    if (k == 4) s.ppid = static_cast<pid_t>(std::stol(field));
    if (k == 14) s.utime = std::stoull(field);
    if (k == 15) s.stime = std::stoull(field);
  }
  return s;
}

// "Key:   123 kB" lines of /proc files; value in MiB.
std::optional<double> kib_field(const std::string& text, const std::string& key) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.compare(0, key.size(), key) != 0 || line.size() <= key.size() || line[key.size()] != ':') continue;
    return std::strtod(line.c_str() + key.size() + 1, nullptr) / 1024.0;
  }
  return std::nullopt;
}

}  // namespace

std::vector<pid_t> children(pid_t parent, std::string_view comm) {
  std::vector<pid_t> out;
  for (pid_t pid : numeric_entries("/proc")) {
    auto s = read_stat(pid);
    if (s && s->ppid == parent && (comm.empty() || s->comm == comm)) out.push_back(pid);
  }
  return out;
}

std::optional<double> cpu_seconds(pid_t pid) {
  auto s = read_stat(pid);
  if (!s) return std::nullopt;
  return double(s->utime + s->stime) / double(::sysconf(_SC_CLK_TCK));
}

std::optional<double> schedstat_seconds(pid_t pid) {
  const std::string dir = "/proc/" + std::to_string(pid) + "/task";
  auto tids = numeric_entries(dir.c_str());
  if (tids.empty()) return std::nullopt;
  double ns = 0;
  for (pid_t tid : tids) {
    auto text = read_all(dir + "/" + std::to_string(tid) + "/schedstat");
    if (!text) continue;                        // the thread ended meanwhile
    ns += std::strtod(text->c_str(), nullptr);  // first field: ns on a CPU
  }
  return ns / 1e9;
}

double self_cpu_seconds() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  auto sec = [](const timeval& t) { return double(t.tv_sec) + double(t.tv_usec) / 1e6; };
  return sec(ru.ru_utime) + sec(ru.ru_stime);
}

std::optional<Memory> memory(pid_t pid) {
  const std::string base = "/proc/" + std::to_string(pid);
  auto status = read_all(base + "/status");
  if (!status) return std::nullopt;
  Memory m;
  m.vm_rss_mib = kib_field(*status, "VmRSS").value_or(0);
  m.rss_anon_mib = kib_field(*status, "RssAnon").value_or(0);
  m.rss_file_mib = kib_field(*status, "RssFile").value_or(0);
  m.rss_shmem_mib = kib_field(*status, "RssShmem").value_or(0);
  if (auto rollup = read_all(base + "/smaps_rollup")) {
    m.pss_mib = kib_field(*rollup, "Pss").value_or(0);
    m.private_mib = kib_field(*rollup, "Private_Clean").value_or(0) + kib_field(*rollup, "Private_Dirty").value_or(0);
  }
  return m;
}

std::string cpu_model() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) {
        auto v = line.substr(colon + 1);
        v.erase(0, v.find_first_not_of(" \t"));
        return v;
      }
    }
  }
  return "?";
}

std::optional<char> state(pid_t pid) {
  auto s = read_stat(pid);
  if (!s) return std::nullopt;
  return s->state;
}

bool alive(pid_t pid) {
  const auto st = state(pid);
  return st && *st != 'Z' && *st != 'X';
}

bool alive_named(pid_t pid, std::string_view comm) {
  auto s = read_stat(pid);
  return s && s->state != 'Z' && s->state != 'X' && s->comm == comm;
}

std::vector<pid_t> children_fast(pid_t pid) {
  auto text = read_all("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children");
  if (!text) return children(pid);
  std::vector<pid_t> out;
  std::istringstream in(*text);
  long v = 0;
  while (in >> v) out.push_back(static_cast<pid_t>(v));
  return out;
}

std::vector<pid_t> threads(pid_t pid) {
  const std::string dir = "/proc/" + std::to_string(pid) + "/task";
  return numeric_entries(dir.c_str());
}

namespace {
// A plain number after "Key:" in a /proc status text.
std::optional<unsigned long long> count_field(const std::string& text, const std::string& key) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.compare(0, key.size(), key) != 0 || line.size() <= key.size() || line[key.size()] != ':') continue;
    return std::strtoull(line.c_str() + key.size() + 1, nullptr, 10);
  }
  return std::nullopt;
}
}  // namespace

std::optional<CtxSwitches> ctxt_switches(pid_t pid) {
  const std::string dir = "/proc/" + std::to_string(pid) + "/task";
  auto tids = numeric_entries(dir.c_str());
  if (tids.empty()) return std::nullopt;
  CtxSwitches c;
  for (pid_t tid : tids) {
    auto text = read_all(dir + "/" + std::to_string(tid) + "/status");
    if (!text) continue;  // the thread ended meanwhile
    c.voluntary += count_field(*text, "voluntary_ctxt_switches").value_or(0);
    c.nonvoluntary += count_field(*text, "nonvoluntary_ctxt_switches").value_or(0);
  }
  return c;
}

std::optional<pid_t> tracer_pid(pid_t pid, pid_t tid) {
  auto text = read_all("/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid) + "/status");
  if (!text) return std::nullopt;
  auto v = count_field(*text, "TracerPid");
  if (!v) return std::nullopt;
  return static_cast<pid_t>(*v);
}

std::optional<double> status_mib(pid_t pid, const std::string& key) {
  auto text = read_all("/proc/" + std::to_string(pid) + "/status");
  if (!text) return std::nullopt;
  return kib_field(*text, key);
}

bool reset_peak_rss() {
  std::ofstream f("/proc/self/clear_refs");
  if (!f) return false;
  f << "5";
  f.flush();
  return bool(f);
}

}  // namespace bench::proc
