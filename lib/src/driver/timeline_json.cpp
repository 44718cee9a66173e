// The Chrome trace event JSON of the timeline (the format ui.perfetto.dev and chrome://tracing
// open): one complete event per task attempt on its worker's track (pid = tid = the worker's
// pid), the driver's get/wait blocks on the driver's track, flow arrows from each dependency's
// producer to its consumer, and process names. Times are microseconds since init().
#include <cerrno>
#include <cstdio>
#include <unordered_map>

#include "driver/timeline.hpp"
#include "shm/futex.hpp"
#include "shmray/detail/registry.hpp"

namespace shmray::driver {

namespace {

// A JSON string: quotes, backslashes and control characters escaped; bytes that are not
// valid UTF-8 (a task name is any bytes) become U+FFFD, so a strict parser takes the file.
void put_string(std::string& out, std::string_view s) {
  out += '"';
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += char(c);
      ++i;
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
      ++i;
    } else if (c < 0x80) {
      out += char(c);
      ++i;
    } else {
      std::size_t n = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 0;
      bool ok = n != 0 && i + n <= s.size();
      for (std::size_t k = 1; ok && k < n; ++k) ok = (static_cast<unsigned char>(s[i + k]) & 0xc0) == 0x80;
      if (ok && n == 3) {  // no overlong forms, no surrogates
        const auto c1 = static_cast<unsigned char>(s[i + 1]);
        ok = !(c == 0xe0 && c1 < 0xa0) && !(c == 0xed && c1 >= 0xa0);
      }
      if (ok && n == 4) {
        const auto c1 = static_cast<unsigned char>(s[i + 1]);
        ok = !(c == 0xf0 && c1 < 0x90) && !(c == 0xf4 && c1 >= 0x90);
      }
      if (ok) {
        out.append(s.data() + i, n);
        i += n;
      } else {
        out += "\\ufffd";
        ++i;
      }
    }
  }
  out += '"';
}

void put_us(std::string& out, std::uint64_t ns, std::uint64_t t0) {
  char buf[32];
  const std::uint64_t d = ns > t0 ? ns - t0 : 0;
  std::snprintf(buf, sizeof buf, "%llu.%03llu", static_cast<unsigned long long>(d / 1000),
                static_cast<unsigned long long>(d % 1000));
  out += buf;
}

const char* outcome_name(const TimelineEvent& e) {
  switch (e.outcome) {
    case RunOutcome::kOk: return "ok";
    case RunOutcome::kFailed: return "error";
    case RunOutcome::kRetried: return "retried";  // threw; run again in place (retry_exceptions)
    case RunOutcome::kCrashed: return e.retried ? "crashed, retried" : "crashed";
    case RunOutcome::kKilled: return "cancelled (worker killed)";
    case RunOutcome::kRequeued: return "requeued (a task run inline above it crashed)";
    case RunOutcome::kUnfinished: return "unfinished";
  }
  return "?";
}

std::string function_name(const TimelineEvent& e) {
  if (e.hold) return "(cpu hold)";
  const detail::FunctionInfo* fn = detail::function_at(e.function);
  return fn ? fn->name : std::string("?");
}

std::string hex(std::uint64_t v) { return detail::ObjectId{v}.hex(); }

void put_event(std::string& out, const TimelineEvent& e, std::string_view name, std::string_view error_type,
               std::uint64_t t0) {
  const std::string fn = function_name(e);
  out += "{\"ph\":\"X\",\"cat\":\"task\",\"name\":";
  put_string(out, name.empty() ? std::string_view(fn) : name);
  out += ",\"pid\":" + std::to_string(e.pid) + ",\"tid\":" + std::to_string(e.pid) + ",\"ts\":";
  put_us(out, e.start_ns, t0);
  out += ",\"dur\":";
  put_us(out, e.end_ns, e.start_ns);
  out += ",\"args\":{\"function\":";
  put_string(out, fn);
  out += ",\"object_id\":\"" + hex(e.result) + "\",\"outcome\":";
  put_string(out, outcome_name(e));
  if (!error_type.empty()) {
    out += ",\"error_type\":";
    put_string(out, error_type);
  }
  if (e.submit_ns) {
    out += ",\"submit_us\":";
    put_us(out, e.submit_ns, t0);
  }
  out += ",\"start_us\":";
  put_us(out, e.start_ns, t0);
  out += ",\"end_us\":";
  put_us(out, e.end_ns, t0);
  out += ",\"args_bytes\":" + std::to_string(e.args_bytes) + ",\"result_bytes\":" + std::to_string(e.result_bytes) +
         ",\"attempt\":" + std::to_string(e.attempt) + ",\"depth\":" + std::to_string(e.depth) +
         ",\"worker_slot\":" + std::to_string(e.slot) + "}},\n";
}

// A flow arrow: "s" inside the producer's slice (just before its end), "f" bound to the
// enclosing slice of the consumer (just after its start).
void put_flow(std::string& out, std::uint64_t id, const TimelineEvent& from, const TimelineEvent& to,
              std::uint64_t t0) {
  const std::uint64_t s = from.end_ns - std::min<std::uint64_t>((from.end_ns - from.start_ns) / 2, 1000);
  const std::uint64_t f = to.start_ns + std::min<std::uint64_t>((to.end_ns - to.start_ns) / 2, 1000);
  const std::string common = ",\"cat\":\"dependency\",\"name\":\"dependency\",\"id\":" + std::to_string(id);
  out += "{\"ph\":\"s\"" + common + ",\"pid\":" + std::to_string(from.pid) + ",\"tid\":" + std::to_string(from.pid) +
         ",\"ts\":";
  put_us(out, s, t0);
  out += "},\n{\"ph\":\"f\",\"bp\":\"e\"" + common + ",\"pid\":" + std::to_string(to.pid) +
         ",\"tid\":" + std::to_string(to.pid) + ",\"ts\":";
  put_us(out, f, t0);
  out += "},\n";
}

void put_meta(std::string& out, std::int32_t pid, const std::string& name, int sort) {
  out += "{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":" + std::to_string(pid) + ",\"args\":{\"name\":";
  put_string(out, name);
  out += "}},\n{\"ph\":\"M\",\"name\":\"process_sort_index\",\"pid\":" + std::to_string(pid) +
         ",\"args\":{\"sort_index\":" + std::to_string(sort) + "}},\n";
}

}  // namespace

std::string Timeline::json(std::int32_t driver_pid, std::uint32_t pool_slots,
                           const std::vector<TimelineEvent>& running) {
  std::string out = "{\"traceEvents\":[\n";
  put_meta(out, driver_pid, "shmray driver (pid " + std::to_string(driver_pid) + ")", 0);
  std::unordered_map<std::int32_t, std::uint32_t> workers;           // pid -> slot
  std::unordered_map<std::uint64_t, const TimelineEvent*> producer;  // result -> its last ok attempt
  auto each = [&](auto&& f) {
    for (std::size_t i = 0; i < events_.size(); ++i) f(events_[(first_event_ + i) % events_.size()]);  // oldest first
    for (const TimelineEvent& e : running) f(e);
  };
  each([&](const TimelineEvent& e) {
    workers.emplace(e.pid, e.slot);
    if (e.outcome == RunOutcome::kOk && e.result) producer[e.result] = &e;
    put_event(out, e, label_at(e.name), label_at(e.error), t0_ns_);
  });
  for (const auto& [pid, slot] : workers)
    put_meta(
        out, pid,
        (slot < pool_slots ? "worker " : "actor slot ") + std::to_string(slot) + " (pid " + std::to_string(pid) + ")",
        1 + int(slot));
  for (std::size_t i = 0; i < blocks_.size(); ++i) {
    const DriverBlock& b = blocks_[(first_block_ + i) % blocks_.size()];
    out += "{\"ph\":\"X\",\"cat\":\"driver\",\"name\":";
    put_string(out, b.what);
    out += ",\"pid\":" + std::to_string(driver_pid) + ",\"tid\":" + std::to_string(b.tid) + ",\"ts\":";
    put_us(out, b.start_ns, t0_ns_);
    out += ",\"dur\":";
    put_us(out, b.end_ns, b.start_ns);
    out += ",\"args\":{\"objects\":" + std::to_string(b.objects) + ",\"object_id\":\"" + hex(b.first) + "\"}},\n";
  }
  std::uint64_t flow = 1;
  each([&](const TimelineEvent& e) {
    if (!e.deps || !deps_kept(e)) return;  // none, or the oldest, overwritten in the pool
    for (std::uint64_t k = 0; k < e.deps; ++k) {
      auto it = producer.find(dep_at(e.deps_at + k));
      if (it != producer.end() && it->second->end_ns <= e.start_ns + 1000)
        put_flow(out, flow++, *it->second, e, t0_ns_);
    }
  });
  // The last element carries no comma: a note of what was dropped closes the list.
  out += "{\"ph\":\"i\",\"s\":\"g\",\"cat\":\"timeline\",\"name\":\"timeline dump\",\"pid\":" +
         std::to_string(driver_pid) + ",\"tid\":" + std::to_string(driver_pid) + ",\"ts\":";
  put_us(out, shm::now_ns(), t0_ns_);
  out += ",\"args\":{\"dropped_events\":" + std::to_string(dropped_events_) +
         ",\"dropped_records\":" + std::to_string(dropped_records_) + "}}\n],\n\"displayTimeUnit\":\"ms\",";
  out += "\"otherData\":{\"producer\":\"shmray\",\"dropped_events\":" + std::to_string(dropped_events_) +
         ",\"dropped_records\":" + std::to_string(dropped_records_) + "}}\n";
  return out;
}

bool Timeline::write(const std::string& path, std::int32_t driver_pid, std::uint32_t pool_slots,
                     const std::vector<TimelineEvent>& running) {
  std::string text;
  {
    std::lock_guard lock(mu_);
    text = json(driver_pid, pool_slots, running);
  }
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (!f) return false;
  const bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  const int err = errno;
  if (std::fclose(f) != 0 || !ok) {
    errno = ok ? errno : err;
    return false;
  }
  return true;
}

}  // namespace shmray::driver
