// JSON and Prometheus text of the dashboard (dashboard_render.hpp).
#include "driver/dashboard_render.hpp"

#include <cmath>
#include <cstdio>

#include "shm/layout.hpp"

namespace shmray::driver {

namespace {
const char* worker_state_name(std::uint32_t s) {
  switch (shm::WorkerState(s)) {
    case shm::WorkerState::kStarting: return "starting";
    case shm::WorkerState::kIdle: return "idle";
    case shm::WorkerState::kSleeping: return "sleeping";
    case shm::WorkerState::kRunning: return "running";
    case shm::WorkerState::kBlocked: return "blocked";
    default: return "unknown";
  }
}
const char* task_state_name(std::uint8_t s) {
  switch (shm::TaskState(s)) {
    case shm::TaskState::kWaiting: return "waiting";
    case shm::TaskState::kQueued: return "queued";
    case shm::TaskState::kClaimed: return "running";
    default: return "other";
  }
}
std::string num(double d) {
  if (!std::isfinite(d)) return "0";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", d);
  return buf;
}
std::string counts_json(const StateCounts& c) {
  return "\"queued\":" + std::to_string(c.queued) + ",\"waiting\":" + std::to_string(c.waiting) +
         ",\"running\":" + std::to_string(c.running) + ",\"finished\":" + std::to_string(c.finished) +
         ",\"failed\":" + std::to_string(c.failed) + ",\"cancelled\":" + std::to_string(c.cancelled);
}
std::string fn_name(const Counters& c, std::uint32_t f) { return c.name(f < c.functions() ? f : c.functions() - 1); }

std::string workers_json(const StatePage& p) {
  std::string out = "[";
  for (std::size_t i = 0; i < p.obs.workers.size(); ++i) {
    const WorkerView& w = p.obs.workers[i];
    const History::Proc pr = p.history.proc(w.slot);
    const bool busy = w.task_ref != 0;
    out += (i ? ",{" : "{") + std::string("\"slot\":") + std::to_string(w.slot) + ",\"pid\":" + std::to_string(w.pid) +
           ",\"kind\":" + (w.actor ? "\"actor\"" : "\"worker\"") + ",\"state\":\"" + worker_state_name(w.state) +
           "\",\"task\":" + (busy && w.function != ~0u ? json_string(fn_name(p.counters, w.function)) : "null") +
           ",\"running_for_s\":" + num(p.history.running_for(w.slot, w.task_ref, p.now)) +
           ",\"tasks_run\":" + std::to_string(w.tasks_run) + ",\"rss_bytes\":" + std::to_string(pr.rss_bytes) +
           ",\"cpu_percent\":" + num(pr.cpu_percent) + "}";
  }
  return out + "]";
}

std::string functions_json(const Observation& o, const Counters& c) {
  std::string out = "[";
  bool first = true;
  for (std::size_t f = 0; f < c.functions(); ++f) {
    const StateCounts& s = o.per_function[f];
    if (!(s.queued | s.waiting | s.running | s.finished | s.failed | s.cancelled)) continue;
    out += (first ? "{" : ",{") + std::string("\"name\":") + json_string(c.name(f)) + "," + counts_json(s) +
           ",\"p50_s\":" + num(latency_quantile(c.at(f), 0.5)) + ",\"p99_s\":" + num(latency_quantile(c.at(f), 0.99)) +
           "}";
    first = false;
  }
  return out + "]";
}

std::string store_json(const StoreView& s) {
  std::string out = "{\"capacity_bytes\":" + std::to_string(s.capacity_bytes) +
                    ",\"payload_bytes\":" + std::to_string(s.payload_bytes) +
                    ",\"objects\":" + std::to_string(s.objects) + ",\"spans\":" + std::to_string(s.spans) +
                    ",\"span_bytes\":" + std::to_string(s.span_bytes) + ",\"largest\":[";
  for (std::size_t i = 0; i < s.largest.size(); ++i) {
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(s.largest[i].first));
    out +=
        (i ? ",{" : "{") + std::string("\"id\":\"") + hex + "\",\"bytes\":" + std::to_string(s.largest[i].second) + "}";
  }
  return out + "]}";
}
}  // namespace

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (unsigned char ch : s) {
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += char(ch);
    } else if (ch < 0x20 || ch == '<' || ch == '>' || ch == '&') {  // also never markup, even in a page
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", ch);
      out += buf;
    } else {
      out += char(ch);
    }
  }
  return out + "\"";
}

std::string render_state(const StatePage& p) {
  return "{\"driver_pid\":" + std::to_string(p.driver_pid) + ",\"uptime_s\":" + num(p.uptime) +
         ",\"workers\":" + workers_json(p) + ",\"pool_workers\":" + std::to_string(p.obs.pool_workers) +
         ",\"tasks\":{" + counts_json(p.obs.total) + "},\"functions\":" + functions_json(p.obs, p.counters) +
         ",\"retries\":" + std::to_string(p.obs.retries) + ",\"restarts\":" + std::to_string(p.obs.restarts) +
         ",\"throughput_per_s\":" + num(p.history.throughput()) + ",\"store\":" + store_json(p.store) +
         ",\"stream\":" + p.history.stream_json() + ",\"function_names\":" +
         [&] {
           std::string names = "[";
           for (std::size_t f = 0; f < p.counters.functions(); ++f)
             names += (f ? "," : "") + json_string(p.counters.name(f));
           return names + "]";
         }() +
         "}";
}

std::string render_tasks(const std::vector<TaskView>& tasks, const Counters& c, const char* state) {
  std::string out = "{\"state\":\"" + std::string(state) + "\",\"tasks\":[";
  for (std::size_t i = 0; i < tasks.size(); ++i) {
    const TaskView& t = tasks[i];
    char ref[17];
    std::snprintf(ref, sizeof ref, "%016llx", static_cast<unsigned long long>(t.ref));
    out += (i ? ",{" : "{") + std::string("\"task\":\"") + ref +
           "\",\"function\":" + json_string(fn_name(c, t.function)) + ",\"state\":\"" + task_state_name(t.state) +
           "\",\"worker_slot\":" + std::to_string(t.worker) + ",\"retries\":" + std::to_string(t.attempt) + "}";
  }
  return out + "]}";
}

}  // namespace shmray::driver
