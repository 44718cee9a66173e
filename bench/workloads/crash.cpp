// A worker that dies: worker_crash, worker_crash_retry_s.
#include "common.hpp"
#include "workloads.hpp"

namespace bench {

/// worker_crash: crash_task on a fresh pool per repetition (init and warm-up untimed). t0,
/// submit, get with a limit (crash_limit_s); figure = time until the driver gets an exception.
/// Reported: its type and message, attempts (= lines in the marker; retries = attempts - 1;
/// max_retries defaults to 3), whether the pool still runs noop(11) within 30 s; ours on top:
/// when each attempt started and how long after the last crash the driver had the error.
Result worker_crash(const Context& c) {
  const double limit = c.p.crash_limit_s;
  std::vector<double> values;
  Json details = Json::array();
  struct Seen {
    std::string seen, type, message, after;
    std::size_t attempts = 0;
    bool pool_ok = false;
  } last;
  for (int rep = 0; rep < c.p.crash_reps; ++rep) {
    OwnPool pool(c.workers, c.store_bytes);
    TempDir d("crash");
    const std::string marker = d.file("attempts");
    Seen s;
    const auto t0 = Clock::now();
    const shmray::ObjectRef<int> h = shmray::task(crash_task).remote(marker);
    try {
      s.seen = "result " + std::to_string(shmray::get(h, as_ns(limit)));
    } catch (const shmray::GetTimeoutError& e) {
      s.seen = "timeout";
      s.type = type_name(e);
      s.message = e.what();
    } catch (const std::exception& e) {
      s.seen = "exception";
      s.type = type_name(e);
      s.message = e.what();
    }
    const auto t_seen = Clock::now();
    const double dt = seconds_between(t0, t_seen);
    const std::vector<Attempt> attempts = attempts_of(marker);
    s.attempts = attempts.size();
    // Does the pool keep working?
    const auto t1 = Clock::now();
    try {
      s.pool_ok = shmray::get(shmray::task(noop).remote(11), std::chrono::seconds(30)) == 11;
      char buf[80];
      std::snprintf(buf, sizeof buf, "works: a new task ran %.4f s later", seconds_between(t1, Clock::now()));
      s.after = buf;
    } catch (const std::exception& e) {
      s.after = "unusable: " + type_name(e) + ": " + e.what();
    }
    Json starts = Json::array();
    for (const Attempt& a : attempts) starts.push(double(a.ns - mono_ns(t0)) / 1e9);
    Json info = Json::object();
    info.set("driver_sees", s.seen);
    info.set("exception_type", s.type.empty() ? Json() : Json(s.type));
    info.set("message", s.message.empty() ? Json() : Json(s.message));
    info.set("seconds_until_driver_sees_it", dt);
    info.set("attempts_run", s.attempts);
    info.set("attempt_started_after_s", std::move(starts));  // from t0, per attempt
    if (!attempts.empty()) info.set("last_crash_to_error_s", double(mono_ns(t_seen) - attempts.back().ns) / 1e9);
    info.set("pool_keeps_working", s.pool_ok);
    info.set("after", s.after);
    details.push(info);
    progress("    crash rep %d: %s %s after %.4f s, %zu attempt(s), pool %s", rep + 1, s.seen.c_str(), s.type.c_str(),
             dt, s.attempts, s.after.c_str());
    if (s.seen == "exception") values.push_back(dt);
    last = s;
  }
  const int retries = static_cast<int>(last.attempts) - 1;
  Result r;
  if (last.seen == "timeout") {
    r.status = "hang";
    char buf[96];
    std::snprintf(buf, sizeof buf, "no result and no error within %.0f s (get(ref, timeout) threw %s)", limit,
                  last.type.c_str());
    r.reason =
        buf + std::string("; the task was run ") + std::to_string(last.attempts) + " time(s); the pool " + last.after;
  } else if (values.empty()) {
    r.status = "failed";
    r.reason = "a task that ends its own process: the driver got " + last.seen + " instead of an error";
  } else {
    r = Result::ok(values);
    std::string msg = last.message.substr(0, 160);
    r.note = "driver sees " + last.type + " (" + msg + "); task run " + std::to_string(last.attempts) + " time(s) (" +
             (retries > 0 ? "retried " + std::to_string(retries) + " time(s)" : std::string("no retry")) + "); pool " +
             last.after;
  }
  r.extra.set("details", std::move(details));
  r.extra.set("pool_keeps_working", last.pool_ok);
  r.extra.set("exception_type", last.type.empty() ? Json() : Json(last.type));
  r.extra.set("retries", retries);
  if (r.status == "ok") {
    const auto colons = last.type.rfind("::");
    r.cell_suffix = " " + (colons == std::string::npos ? last.type : last.type.substr(colons + 2));
  }
  r.sub_rows.push_back({"  crash: pool works after", last.pool_ok ? "true" : "false"});
  r.sub_rows.push_back({"  crash: retries", std::to_string(retries)});
  return r;
}

/// worker_crash_retry_s (ours; issue target: a crashed worker's task retried and the pool
/// whole again within 50 ms). crash_once on a fresh pool per repetition (untimed start): it
/// ends its process on the first attempt and returns 7 on the retry. Figure: submit -> the
/// value 7 in the driver (one crash + one retry). Also pool_whole_s: from the crash (the time
/// stamp the task writes just before _exit) until the fork server has as many live
/// "shmray-worker" children as at the start, the crashed one not among them (sampled every
/// ~1 ms by a thread while the repetition runs).
Result worker_crash_retry_s(const Context& c) {
  std::vector<double> values, whole;
  Json details = Json::array();
  for (int rep = 0; rep < c.p.crash_retry_reps; ++rep) {
    OwnPool pool(c.workers, c.store_bytes);
    const PoolPids pids = pool_pids(c.workers);
    TempDir d("crash_retry");
    const std::string marker = d.file("attempts");
    WorkerWatch watch(pids.fork_server);
    const auto t0 = Clock::now();
    int v = -1;
    std::string error;
    try {
      v = shmray::get(shmray::task(crash_once).remote(marker), as_ns(c.p.crash_limit_s));
    } catch (const std::exception& e) {
      error = type_name(e) + ": " + e.what();
    }
    const auto t_result = Clock::now();
    const std::vector<Attempt> attempts = attempts_of(marker);
    check(error.empty(), "crash_once returns 7 after one retry; the driver got " + error);
    check(v == 7, "crash_once returns 7 (got " + std::to_string(v) + ")");
    check(attempts.size() == 2 && attempts[0].tag == "crash" && attempts[1].tag == "ok",
          "crash_once ran twice (crash, ok); the marker has " + std::to_string(attempts.size()) + " line(s)");
    const pid_t crashed = attempts[0].pid;
    const std::size_t expected = pids.workers.size();
    auto whole_set = [&](const std::vector<pid_t>& live) {
      return live.size() == expected && std::find(live.begin(), live.end(), crashed) == live.end();
    };
    const bool whole_seen = wait_for([&] { return whole_set(watch.live()); }, 5.0);
    watch.stop();
    const auto crash_at = Clock::time_point(std::chrono::nanoseconds(attempts[0].ns));
    std::optional<Clock::time_point> gone_at, whole_at;
    pid_t replacement = 0;
    for (const WorkerWatch::Change& ch : watch.changes()) {
      if (ch.t < crash_at) continue;
      const bool has_crashed = std::find(ch.live.begin(), ch.live.end(), crashed) != ch.live.end();
      if (!has_crashed && !gone_at) gone_at = ch.t;
      if (whole_set(ch.live)) {
        whole_at = ch.t;
        for (pid_t p : ch.live)
          if (std::find(pids.workers.begin(), pids.workers.end(), p) == pids.workers.end()) replacement = p;
        break;
      }
    }
    check(whole_seen && whole_at.has_value(),
          "the pool had " + std::to_string(expected) + " live workers again within 5 s");
    const double dt = seconds_between(t0, t_result);
    const double whole_s = seconds_between(crash_at, *whole_at);
    values.push_back(dt);
    whole.push_back(whole_s);
    const Clock::time_point retry_at{std::chrono::nanoseconds(attempts[1].ns)};
    Json info = Json::object();
    info.set("result_s", dt);
    info.set("crash_after_submit_s", seconds_between(t0, crash_at));
    info.set("retry_started_after_crash_s", seconds_between(crash_at, retry_at));
    info.set("result_after_crash_s", seconds_between(crash_at, t_result));
    info.set("worker_gone_seen_after_crash_s", gone_at ? Json(seconds_between(crash_at, *gone_at)) : Json());
    info.set("pool_whole_s", whole_s);
    info.set("crashed_pid", crashed);
    info.set("replacement_pid", replacement);
    info.set("retried_on", attempts[1].pid == replacement ? "the replacement worker" : "the other worker");
    details.push(info);
    progress(
        "    crash retry rep %d: result after %.4f s (crash at +%.4f s, retry started %.4f s after it), pool whole "
        "%.4f s after the crash",
        rep + 1, dt, seconds_between(t0, crash_at), seconds_between(crash_at, retry_at), whole_s);
  }
  Result r = Result::ok(values);
  r.extra.set("pool_whole_s", Json::array_of(whole));
  r.extra.set("pool_whole_s_median", median(whole));
  r.extra.set("details", std::move(details));
  r.note = "one crash + one retry: submit -> value in the driver; pool_whole_s (crash -> " + std::to_string(c.workers) +
           " live workers again, /proc sampled every ~1 ms) " + summary_text(whole) +
           "; issue target: retried and pool whole within 50 ms";
  r.sub_rows.push_back({"  crash retry: pool_whole_s", summary_text(whole)});
  return r;
}

}  // namespace bench
