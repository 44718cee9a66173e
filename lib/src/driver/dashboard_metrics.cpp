// /metrics: Prometheus text exposition format 0.0.4 (dashboard_render.hpp). Every family has
// its HELP and TYPE line before its samples; histograms have cumulative _bucket{le} samples
// ending in le="+Inf", then _sum and _count.
#include <cstdio>

#include "driver/dashboard_render.hpp"

namespace shmray::driver {

namespace {
std::string label(const std::string& v) {
  std::string out;
  for (char ch : v) {
    if (ch == '\\' || ch == '"')
      out += '\\', out += ch;
    else if (ch == '\n')
      out += "\\n";
    else
      out += ch;
  }
  return out;
}
std::string seconds(std::uint64_t ns) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", double(ns) / 1e9);
  return buf;
}
void family(std::string& out, const char* name, const char* type, const char* help) {
  out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}
void sample(std::string& out, const std::string& name, const std::string& labels, std::uint64_t v) {
  out += name + (labels.empty() ? "" : "{" + labels + "}") + " " + std::to_string(v) + "\n";
}

void latency_family(std::string& out, const Counters& c) {
  family(out, "shmray_task_latency_seconds", "histogram",
         "Time from a task's submission to its result, for tasks that finished or failed, by function.");
  for (std::size_t f = 0; f < c.functions(); ++f) {
    const FunctionCounters& fc = c.at(f);
    const std::string fn = "function=\"" + label(c.name(f)) + "\"";
    std::uint64_t cum = 0;
    for (std::size_t b = 0; b < kLatencyBuckets; ++b) {
      cum += fc.buckets[b].load(std::memory_order_relaxed);
      const std::string le = b < kLatencyBoundsNs.size() ? seconds(kLatencyBoundsNs[b]) : "+Inf";
      sample(out, "shmray_task_latency_seconds_bucket", fn + ",le=\"" + le + "\"", cum);
    }
    out += "shmray_task_latency_seconds_sum{" + fn + "} " + seconds(fc.latency_sum_ns.load(std::memory_order_relaxed)) +
           "\n";
    sample(out, "shmray_task_latency_seconds_count", fn, cum);
  }
}
}  // namespace

std::string render_metrics(const Observation& o, const StoreView& s, const Counters& c) {
  std::string out;
  family(out, "shmray_tasks", "gauge", "Tasks now queued, waiting for their arguments, or running.");
  sample(out, "shmray_tasks", "state=\"queued\"", o.total.queued);
  sample(out, "shmray_tasks", "state=\"waiting\"", o.total.waiting);
  sample(out, "shmray_tasks", "state=\"running\"", o.total.running);
  family(out, "shmray_tasks_total", "counter", "Tasks that ended, by outcome.");
  sample(out, "shmray_tasks_total", "outcome=\"finished\"", o.total.finished);
  sample(out, "shmray_tasks_total", "outcome=\"failed\"", o.total.failed);
  sample(out, "shmray_tasks_total", "outcome=\"cancelled\"", o.total.cancelled);
  family(out, "shmray_function_tasks_total", "counter", "Tasks that ended, by function and outcome.");
  for (std::size_t f = 0; f < c.functions(); ++f) {
    const std::string fn = "function=\"" + label(c.name(f)) + "\",outcome=";
    sample(out, "shmray_function_tasks_total", fn + "\"finished\"", o.per_function[f].finished);
    sample(out, "shmray_function_tasks_total", fn + "\"failed\"", o.per_function[f].failed);
    sample(out, "shmray_function_tasks_total", fn + "\"cancelled\"", o.per_function[f].cancelled);
  }
  latency_family(out, c);
  family(out, "shmray_workers", "gauge", "Live worker processes of the task pool.");
  sample(out, "shmray_workers", "", o.pool_workers);
  family(out, "shmray_task_retries_total", "counter", "Tasks run again after their worker process died.");
  sample(out, "shmray_task_retries_total", "", o.retries);
  family(out, "shmray_worker_restarts_total", "counter", "Worker and actor processes started again after one died.");
  sample(out, "shmray_worker_restarts_total", "", o.restarts);
  family(out, "shmray_store_capacity_bytes", "gauge", "Size of the object store.");
  sample(out, "shmray_store_capacity_bytes", "", s.capacity_bytes);
  family(out, "shmray_store_objects", "gauge", "Objects alive in the store (pending results included).");
  sample(out, "shmray_store_objects", "", s.objects);
  family(out, "shmray_store_payload_bytes", "gauge", "Bytes of the payloads of final objects.");
  sample(out, "shmray_store_payload_bytes", "", s.payload_bytes);
  family(out, "shmray_store_span_bytes", "gauge", "Store taken by some process (64 KiB spans).");
  sample(out, "shmray_store_span_bytes", "", s.span_bytes);
  return out;
}

}  // namespace shmray::driver
