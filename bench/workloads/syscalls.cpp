// System calls per task: syscalls_per_task (counting tools in counters.cpp).
#include "common.hpp"
#include "counters.hpp"
#include "workloads.hpp"

namespace bench {

/// syscalls_per_task (ours): system calls per task on the async path (submit N noop, then get
/// all; N = syscalls_n). The figure: (driver + workers) syscalls / N counted by strace -c
/// attached (ptrace) to the driver (-f: every thread), the fork server and each worker, one
/// strace each, minus what the same procedure counts around an idle window as long as the
/// traced run (the driver's own attach/detach steps; the raw quotient is kept in the JSON).
/// Also: a perf tracepoint count of the same workload without ptrace (when perf may), and
/// context switches per task of an untraced run (/proc/<pid>/task/*/status).
Result syscalls_per_task(const Context& c) {
  const int n = c.p.syscalls_n;
  submit_then_get(1000);  // warm (untimed)
  std::vector<Counted> who{{"driver", ::getpid()}, {"fork_server", fork_server_pid()}};
  for (pid_t w : proc::children(who[1].pid, "shmray-worker"))
    if (proc::alive(w)) who.push_back({"worker", w});
  const std::size_t nworkers = who.size() - 2;
  using Split = std::array<double, 3>;  // driver, fork server, workers
  auto split = [&](auto value_of) {
    Split s{0, 0, 0};
    for (std::size_t i = 0; i < who.size(); ++i) s[std::min<std::size_t>(i, 2)] += double(value_of(i));
    return s;
  };
  auto per_task = [n](const Split& s) { return Split{s[0] / n, s[1] / n, s[2] / n}; };
  auto split_json = [](const Split& s) {
    Json o = Json::object();
    o.set("driver", s[0]);
    o.set("fork_server", s[1]);
    o.set("workers", s[2]);
    o.set("driver_plus_workers", s[0] + s[2]);
    return o;
  };

  TempDir dir("syscalls");
  std::vector<double> values, raw_values, perf_values, cs_values;
  std::vector<Split> strace_splits, perf_splits;
  Json details = Json::array();
  std::string perf_why;
  for (int rep = 0; rep < c.p.syscalls_reps; ++rep) {
    Json d = Json::object();
    // 1. Context switches of an untraced run.
    std::vector<proc::CtxSwitches> cs0, cs1;
    for (const Counted& p : who) cs0.push_back(proc::ctxt_switches(p.pid).value_or(proc::CtxSwitches{}));
    const double untraced_s = submit_then_get(n);
    for (const Counted& p : who) cs1.push_back(proc::ctxt_switches(p.pid).value_or(proc::CtxSwitches{}));
    const Split vol = per_task(split([&](std::size_t i) { return cs1[i].voluntary - cs0[i].voluntary; }));
    const Split invol = per_task(split([&](std::size_t i) { return cs1[i].nonvoluntary - cs0[i].nonvoluntary; }));
    const double cs_per_task = vol[0] + vol[2] + invol[0] + invol[2];
    cs_values.push_back(cs_per_task);
    d.set("untraced_run_s", untraced_s);
    d.set("context_switches_voluntary_per_task", split_json(vol));
    d.set("context_switches_nonvoluntary_per_task", split_json(invol));

    // 2. strace around a run, then around an idle window as long as the traced run took.
    std::string why_not;
    double traced_s = 0;
    const auto run = strace_counts(
        who, dir, "run" + std::to_string(rep), [&] { traced_s = submit_then_get(n); }, why_not);
    if (!run) return Result::unsupported("strace cannot count here: " + why_not);
    const auto idle = strace_counts(
        who, dir, "idle" + std::to_string(rep), [&] { sleep_s(traced_s); }, why_not);
    const Split st_run = split([&](std::size_t i) { return (*run)[i].total; });
    Split st_net = st_run;
    if (idle) {
      const Split st_idle = split([&](std::size_t i) { return (*idle)[i].total; });
      for (std::size_t k = 0; k < 3; ++k) st_net[k] = std::max(0.0, st_run[k] - st_idle[k]);
      d.set("strace_idle_window_calls", split_json(st_idle));
    } else {
      d.set("strace_idle_window_calls", "not counted: " + why_not);
    }
    const Split net = per_task(st_net);
    values.push_back(net[0] + net[2]);
    raw_values.push_back((st_run[0] + st_run[2]) / n);
    strace_splits.push_back(net);
    d.set("traced_run_s", traced_s);
    d.set("strace_run_calls", split_json(st_run));
    d.set("strace_per_task", split_json(net));
    d.set("strace_idle_subtracted", idle.has_value());
    Json top = Json::array();
    for (std::size_t i = 0; i < who.size(); ++i) {
      Json e = Json::object();
      e.set("role", who[i].role);
      e.set("pid", who[i].pid);
      e.set("calls", (*run)[i].total);
      Json calls = Json::object();
      for (std::size_t k = 0; k < (*run)[i].by_call.size() && k < 8; ++k)
        calls.set((*run)[i].by_call[k].first, (*run)[i].by_call[k].second);
      e.set("top_syscalls", std::move(calls));
      top.push(std::move(e));
    }
    d.set("strace_processes", std::move(top));

    // 3. perf (no ptrace), when allowed.
    double perf_s = 0;
    if (auto pc = perf_counts(
            who, dir, std::to_string(rep), [&] { perf_s = submit_then_get(n); }, perf_why)) {
      const Split p = per_task(split([&](std::size_t i) { return (*pc)[i]; }));
      perf_values.push_back(p[0] + p[2]);
      perf_splits.push_back(p);
      d.set("perf_run_s", perf_s);
      d.set("perf_per_task", split_json(p));
    } else {
      d.set("perf", "unavailable: " + perf_why);
    }
    progress(
        "    syscalls rep %d: strace %.4f per task (raw %.4f; driver %.4f, workers %.4f), perf %s, context "
        "switches %.4f per task",
        rep + 1, values.back(), raw_values.back(), net[0], net[2],
        perf_splits.size() == std::size_t(rep + 1) ? format_number(perf_values.back()).c_str() : "n/a", cs_per_task);
    details.push(std::move(d));
  }
  auto median_split = [&](const std::vector<Split>& v) {
    Split m{0, 0, 0};
    for (std::size_t k = 0; k < 3; ++k) {
      std::vector<double> col;
      for (const Split& s : v) col.push_back(s[k]);
      m[k] = median(col);
    }
    return m;
  };
  const Split st_med = median_split(strace_splits);
  Result r = Result::ok(values);
  r.extra.set("n", n);
  r.extra.set("workers", nworkers);
  r.extra.set("method",
              "strace -c -f -q -p <pid>, one per process (driver, fork server, each worker), around one run, "
              "minus the same around an idle window as long as the traced run");
  r.extra.set("strace_per_task_median", split_json(st_med));
  r.extra.set("strace_raw_per_task", Json::array_of(raw_values));
  if (!perf_values.empty()) {
    r.extra.set("perf_per_task", Json::array_of(perf_values));
    r.extra.set("perf_per_task_median", split_json(median_split(perf_splits)));
  } else {
    r.extra.set("perf", "unavailable: " + perf_why);
  }
  r.extra.set("context_switches_per_task", Json::array_of(cs_values));
  r.extra.set("details", std::move(details));
  std::string perf_text = "unavailable";
  char buf[700];
  if (!perf_values.empty()) {
    const Split pm = median_split(perf_splits);
    perf_text = summary_text(perf_values);
    std::snprintf(buf, sizeof buf, " (median driver %.4f + workers %.4f)", pm[0], pm[2]);
    perf_text += buf;
  }
  std::snprintf(buf, sizeof buf,
                "%d async noop tasks per run (submit all, get all); strace -c (ptrace) per process, an idle window's "
                "count subtracted: median driver %.4f + workers %.4f per task (fork server %.4f; raw, nothing "
                "subtracted: %s); under ptrace the spin/futex choices may differ from an untraced run; perf "
                "raw_syscalls:sys_enter (no ptrace): %s; context switches per task (untraced, driver + workers, "
                "voluntary + not): %s",
                n, st_med[0], st_med[2], st_med[1], summary_text(raw_values).c_str(), perf_text.c_str(),
                summary_text(cs_values).c_str());
  r.note = buf;
  std::snprintf(buf, sizeof buf, "%.4f / %.4f", st_med[0], st_med[2]);
  r.sub_rows.push_back({"  syscalls: driver / workers", buf});
  r.sub_rows.push_back(
      {"  syscalls: perf (no ptrace)", perf_values.empty() ? "unavailable" : summary_text(perf_values)});
  r.sub_rows.push_back({"  context switches per task", summary_text(cs_values)});
  return r;
}

}  // namespace bench
