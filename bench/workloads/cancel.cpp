// Cancelling a running task: cancel_running_s, cancel_running_s_coop.
#include "common.hpp"
#include "workloads.hpp"

namespace bench {

namespace {
/// cancel_running_s (force = true) and cancel_running_s_coop (ours, force = false and the task
/// polls cancelled() at every 10 ms step). One repetition: submit long_task; wait (untimed)
/// until it has started, then 50 ms; t0; shmray::cancel(ref, {.force}); poll get(ref, 0) until
/// it throws TaskCancelledError (limit 10 s, as peers.py gives Dask); submit noop(7) and get it
/// (limit cancel_new_task_limit_s); figure = now - t0. Then, untimed: stopped? = the heartbeat's
/// mtime did not change over 0.5 s; capacity = two sleep_s(0.2) done within 3 s. Ours on top:
/// when the task really stopped (force: its worker process's exit, seen on a pidfd; coop: the
/// time stamp it writes when it returns) and how often it ran (a re-run would add a start line).
Result cancel_workload(const Context& c, bool force) {
  constexpr double kToldLimit = 10.0;
  const double new_limit = c.p.cancel_new_task_limit_s;
  std::vector<double> values, told_after, stopped_after;
  Json details = Json::array();
  bool stopped_all = true;
  int told_reps = 0, blocked = 0, reruns = 0;
  std::string caps, not_told;
  for (int rep = 0; rep < c.p.cancel_reps; ++rep) {
    TempDir d("cancel");
    const std::string start_p = d.file("start"), hb_p = d.file("hb"), stop_p = d.file("stop"), done_p = d.file("done");
    const shmray::ObjectRef<std::string> h =
        shmray::task(long_task).remote(start_p, hb_p, stop_p, done_p, 30.0, !force);
    check(wait_for([&] { return !lines_of(start_p).empty(); }, 30.0), "the long task started within 30 s");
    const pid_t task_pid = static_cast<pid_t>(std::stol(lines_of(start_p).front()));
    DeathWatch death(task_pid);
    sleep_s(0.05);  // it is now well inside its sleep

    const auto t0 = Clock::now();
    shmray::cancel(h, {.force = force});
    const auto t_cancel = Clock::now();
    bool told = false;
    std::string told_as;
    for (;;) {
      try {
        (void)shmray::get(h, std::chrono::nanoseconds(0));
        told_as = "get returned the task's value";
        break;
      } catch (const shmray::TaskCancelledError& e) {
        told = true;
        told_as = e.what();
        break;
      } catch (const shmray::GetTimeoutError&) {
        if (seconds_between(t0, Clock::now()) > kToldLimit) {
          told_as = "get(ref, 0) still timed out 10 s after cancel";
          break;
        }
      } catch (const std::exception& e) {
        told_as = type_name(e) + ": " + e.what();
        break;
      }
    }
    const auto t_told = Clock::now();
    const shmray::ObjectRef<int> hn = shmray::task(noop).remote(7);
    bool new_ok = false;
    std::string new_error;
    try {
      new_ok = shmray::get(hn, as_ns(new_limit)) == 7;
    } catch (const shmray::GetTimeoutError&) {
    } catch (const std::exception& e) {
      new_error = type_name(e) + ": " + e.what();
    }
    const auto t_new = Clock::now();

    // Untimed: was the running task stopped? Heartbeat over 0.5 s.
    const std::int64_t m1 = mtime_ns(hb_p);
    sleep_s(0.5);
    const std::int64_t m2 = mtime_ns(hb_p);
    const bool stopped = m1 == m2;
    // Capacity after the cancel: two 0.2 s tasks, 3 s limit.
    const auto tc = Clock::now();
    const std::vector<shmray::ObjectRef<double>> hc = {shmray::task(sleep_seconds).remote(0.2),
                                                       shmray::task(sleep_seconds).remote(0.2)};
    const auto w = shmray::wait(hc, {.num_returns = 2, .timeout = std::chrono::seconds(3)});
    const double cap = seconds_between(tc, Clock::now());
    const std::size_t cap_done = w.ready.size();
    // Clean-up (not measured): let the long task end, collect everything.
    write_text(stop_p, "");
    wait_for([&] { return file_exists(done_p) || death.ended(); }, 35.0, 0.01);
    for (const auto& x : hc) {
      try {
        (void)shmray::get(x, std::chrono::seconds(30));
      } catch (const std::exception&) {
      }
    }
    // When did the task really stop?
    std::optional<double> stopped_s;
    std::string stopped_how;
    const auto done_words = [&] {
      std::vector<std::string> words;
      std::istringstream in(read_text(done_p));
      for (std::string x; in >> x;) words.push_back(x);
      return words;
    }();
    if (auto at = death.ended_at()) {
      stopped_s = seconds_between(t0, *at);
      stopped_how = "its worker process ended (pidfd)";
    } else if (done_words.size() == 3 && done_words[1] == "saw_cancelled") {
      stopped_s = double(std::stoll(done_words[2]) - mono_ns(t0)) / 1e9;
      stopped_how = "it returned at its next step (saw cancelled())";
    } else if (done_words.size() == 3) {
      stopped_how = "only at clean-up (" + done_words[1] + ")";
    } else {
      stopped_how = death.watching() ? "unknown (no done file, process alive)" : "unknown (pidfd_open failed)";
    }
    const std::size_t runs = lines_of(start_p).size();

    char cap_text[96];
    if (cap_done == 2)
      std::snprintf(cap_text, sizeof cap_text, "both done in %.2f s", cap);
    else
      std::snprintf(cap_text, sizeof cap_text, "%zu of 2 done after %.1f s", cap_done, cap);
    Json info = Json::object();
    info.set("cancel_returned", nullptr);  // shmray::cancel returns void
    info.set("cancel_call_s", seconds_between(t0, t_cancel));
    info.set("told_cancelled", told);
    info.set("told_after_s", told ? Json(seconds_between(t0, t_told)) : Json());
    info.set("told_as", told_as);
    info.set("new_task_ran", new_ok);
    info.set("new_task_done_after_s", told && new_ok ? Json(seconds_between(t0, t_new)) : Json());
    info.set("new_task_latency_s", new_ok ? Json(seconds_between(t_told, t_new)) : Json());
    if (!new_error.empty()) info.set("new_task_error", new_error);
    info.set("running_task_stopped", stopped);
    info.set("task_stopped_after_s", stopped_s ? Json(*stopped_s) : Json());
    info.set("task_stopped_how", stopped_how);
    info.set("task_runs", runs);
    info.set("two_0.2s_tasks_done_within_3s", cap_done);
    info.set("two_0.2s_tasks_after_cancel", std::string(cap_text));
    details.push(info);
    progress("    cancel rep %d: told %s after %.6f s, new task %s, task stopped %s (%s), runs %zu, two 0.2 s tasks: %s",
             rep + 1, told ? "cancelled" : "NOT cancelled", seconds_between(t0, t_told), new_ok ? "ran" : "did NOT run",
             stopped ? "yes" : "NO", stopped_how.c_str(), runs, cap_text);

    told_reps += told;
    if (!told && not_told.empty()) not_told = told_as;
    if (told && !new_ok) ++blocked;
    if (told && new_ok) values.push_back(seconds_between(t0, t_new));
    if (told) told_after.push_back(seconds_between(t0, t_told));
    if (stopped_s) stopped_after.push_back(*stopped_s);
    stopped_all = stopped_all && stopped;
    reruns += runs > 1;
    caps += (caps.empty() ? "" : "; ") + std::string(cap_text);
  }

  const std::string how = force ? "cancel(ref, {.force = true}) (the worker process is killed and replaced)"
                                : "cancel(ref) without force; the task checks cancelled() at each 10 ms step";
  if (told_reps == 0) {
    Result r;
    r.status = "failed";
    r.reason = how + ": the driver was never told the task was cancelled: " + not_told;
    r.extra.set("details", std::move(details));
    return r;
  }
  char buf[320];
  std::snprintf(buf, sizeof buf, "%s: driver told cancelled after %.6f s (median); the running task was %s", how.c_str(),
                median(told_after), stopped_all ? "stopped" : "NOT stopped in every repetition");
  std::string note = buf;
  if (!stopped_after.empty()) {
    std::snprintf(buf, sizeof buf, " (%s after cancel: %s s)", force ? "worker process gone" : "task returned",
                  summary_text(stopped_after).c_str());
    note += buf;
  }
  std::snprintf(buf, sizeof buf, "; the new noop was not done within %.0f s in %d of %d reps%s; ", new_limit, blocked,
                c.p.cancel_reps, blocked ? " (left out of the figure)" : "");
  note += buf;
  note += "then two 0.2 s tasks: " + caps;
  if (reruns) note += "; THE CANCELLED TASK RAN AGAIN in " + std::to_string(reruns) + " rep(s)";
  if (!force) note += "; coop stop time includes up to one 10 ms step of the task";
  note += "; issue target: cancel reported and task stopped within 5 ms";

  Result r;
  if (values.empty()) {
    r.status = "blocked";
    r.reason = note;
  } else {
    r = Result::ok(values);
    r.note = note;
  }
  r.extra.set("force", force);
  r.extra.set("running_task_stopped", stopped_all);
  r.extra.set("new_task_blocked_reps", blocked);
  r.extra.set("told_after_s_median", median(told_after));
  r.extra.set("task_stopped_after_s", Json::array_of(stopped_after));
  r.extra.set("task_reruns", reruns);
  r.extra.set("details", std::move(details));
  r.cell_suffix = std::string(" task ") + (stopped_all ? "stopped" : "NOT stopped");
  if (blocked) r.cell_suffix += ", new task blocked " + std::to_string(blocked) + "/" + std::to_string(c.p.cancel_reps);
  if (!stopped_after.empty()) {
    std::snprintf(buf, sizeof buf, " (in %s s)", format_number(median(stopped_after)).c_str());
    r.cell_suffix += buf;
  }
  return r;
}
}  // namespace


Result cancel_running_s(const Context& c) { return cancel_workload(c, /*force=*/true); }
Result cancel_running_s_coop(const Context& c) { return cancel_workload(c, /*force=*/false); }

}  // namespace bench
