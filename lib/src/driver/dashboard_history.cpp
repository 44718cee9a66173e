// The dashboard's sampler memory (dashboard_history.hpp).
#include "driver/dashboard_history.hpp"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include "shm/layout.hpp"

namespace shmray::driver {

namespace {
std::int32_t code_of(const WorkerView& w) {
  if (w.state == std::uint32_t(shm::WorkerState::kBlocked)) return -2;
  if (!w.task_ref || w.function == ~0u) return -1;
  return std::int32_t(w.function & 0x7fffffff);
}

// utime + stime (clock ticks) and RSS (bytes) of `pid`; false when it is gone.
bool proc_figures(pid_t pid, std::uint64_t& ticks, std::uint64_t& rss) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/stat", int(pid));
  std::ifstream stat(path);
  std::string line;
  if (!std::getline(stat, line)) return false;
  const std::size_t paren = line.rfind(')');  // the command may hold spaces and parentheses
  if (paren == std::string::npos) return false;
  std::istringstream rest(line.substr(paren + 2));
  std::string field;
  std::uint64_t utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::strtoull(field.c_str(), nullptr, 10);
    if (i == 15) stime = std::strtoull(field.c_str(), nullptr, 10);
  }
  ticks = utime + stime;
  std::snprintf(path, sizeof path, "/proc/%d/statm", int(pid));
  std::ifstream statm(path);
  std::uint64_t size = 0, resident = 0;
  if (!(statm >> size >> resident)) return false;
  rss = resident * std::uint64_t(::sysconf(_SC_PAGESIZE));
  return true;
}
}  // namespace

void History::read_proc(Slot& s, double t) {
  std::uint64_t ticks = 0, rss = 0;
  if (!proc_figures(s.pid, ticks, rss)) return;
  if (s.cpu_at > 0 && t > s.cpu_at && ticks >= s.cpu_ticks)
    s.proc.cpu_percent = 100.0 * double(ticks - s.cpu_ticks) / double(::sysconf(_SC_CLK_TCK)) / (t - s.cpu_at);
  s.cpu_ticks = ticks;
  s.cpu_at = t;
  s.proc.rss_bytes = rss;
}

void History::sample(double t, const std::vector<WorkerView>& workers, std::uint64_t done) {
  Sample& s = ring_[next_];
  next_ = (next_ + 1) % kSamples;
  count_ = std::min(count_ + 1, kSamples);
  s.t = t;
  s.done = done;
  s.cells.clear();
  const bool proc_tick = ticks_++ % 10 == 0;
  std::unordered_map<std::uint32_t, Slot> live;
  for (const WorkerView& w : workers) {
    s.cells.emplace_back(w.slot, code_of(w));
    auto it = slots_.find(w.slot);
    Slot slot = it != slots_.end() && it->second.pid == w.pid ? it->second : Slot{w.pid, 0, t, 0, 0, {}};
    if (slot.task_ref != w.task_ref) slot.task_ref = w.task_ref, slot.since = t;
    if (proc_tick) read_proc(slot, t);
    live.emplace(w.slot, slot);
  }
  slots_ = std::move(live);
}

double History::throughput() const {
  if (count_ < 2) return 0;
  const Sample& last = ring_[(next_ + kSamples - 1) % kSamples];
  const std::size_t back = std::min<std::size_t>(count_ - 1, 10);
  const Sample& first = ring_[(next_ + kSamples - 1 - back) % kSamples];
  return last.t > first.t ? double(last.done - first.done) / (last.t - first.t) : 0;
}

double History::running_for(std::uint32_t slot, std::uint64_t task_ref, double now) const {
  auto it = slots_.find(slot);
  if (!task_ref || it == slots_.end() || it->second.task_ref != task_ref) return 0;
  return now - it->second.since;
}

History::Proc History::proc(std::uint32_t slot) const {
  auto it = slots_.find(slot);
  return it == slots_.end() ? Proc{} : it->second.proc;
}

std::string History::stream_json() const {
  // Rows by slot, cells oldest first.
  std::map<std::uint32_t, std::vector<std::int32_t>> rows;
  constexpr std::int32_t kAbsent = -100;
  for (std::size_t k = 0; k < count_; ++k) {
    const Sample& s = ring_[(next_ + kSamples - count_ + k) % kSamples];
    for (const auto& [slot, code] : s.cells) {
      auto& row = rows[slot];
      row.resize(count_, kAbsent);
      row[k] = code;
    }
  }
  std::string out =
      "{\"interval_s\":" + std::to_string(kInterval) + ",\"samples\":" + std::to_string(count_) + ",\"rows\":[";
  bool first = true;
  for (auto& [slot, cells] : rows) {
    cells.resize(count_, kAbsent);
    auto it = slots_.find(slot);
    out += (first ? "" : ",") + std::string("{\"slot\":") + std::to_string(slot) +
           ",\"pid\":" + std::to_string(it == slots_.end() ? 0 : it->second.pid) + ",\"cells\":[";
    first = false;
    for (std::size_t k = 0; k < cells.size(); ++k)
      out += (k ? "," : "") + (cells[k] == kAbsent ? std::string("null") : std::to_string(cells[k]));
    out += "]}";
  }
  return out + "]}";
}

}  // namespace shmray::driver
