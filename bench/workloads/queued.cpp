// Scale: queued_1m_s.
#include "common.hpp"
#include "workloads.hpp"

namespace bench {

/// queued_1m_s (ours, the speed issue: target <= 5 s and peak RSS <= 1 GiB): submit queued_n
/// noop(i) (1,000,000; quick 100,000) without waiting, then get all of them in order. Timed:
/// first submit -> last result in hand. Peak RSS of the driver: VmHWM is the process's
/// lifetime high-water mark, so it is reset to the current RSS ("5" into
/// /proc/self/clear_refs) before each repetition: VmHWM after it is this repetition's peak;
/// the delta is its growth over the RSS before. After the refs are dropped the store must
/// hold no more objects than before (a leak check).
Result queued_1m_s(const Context& c) {
  const int n = c.p.queued_n;
  const pid_t self = ::getpid();
  std::vector<double> values;
  Json details = Json::array();
  double peak = 0, peak_delta = 0;
  bool reset_ok = true;
  Reps reps(c.p, c.p.queued_reps, /*adaptive=*/false);
  while (reps.more()) {
    const bool reset = proc::reset_peak_rss();
    reset_ok = reset_ok && reset;
    const double rss0 = proc::status_mib(self, "VmRSS").value_or(0);
    const double hwm0 = proc::status_mib(self, "VmHWM").value_or(0);
    const std::size_t objects0 = shmray::store_stats().objects;
    std::vector<shmray::ObjectRef<int>> refs;
    refs.reserve(std::size_t(n));
    Stopwatch sw;
    for (int i = 0; i < n; ++i) refs.push_back(shmray::task(noop).remote(i));
    const double submit_s = sw.seconds();
    std::vector<int> got = shmray::get(refs);
    const double dt = sw.seconds();
    const double hwm1 = proc::status_mib(self, "VmHWM").value_or(0);
    const auto mem = proc::memory(self);
    const shmray::StoreStats st = shmray::store_stats();
    check(got.size() == std::size_t(n), "get(refs) returns N values");
    for (int i = 0; i < n; ++i) check(got[std::size_t(i)] == i, "noop(i) == i, in submission order");
    // Untimed: drop every ref and result; the store must let the objects go.
    refs = {};
    got = {};
    std::size_t objects_after = 0;
    const bool released =
        wait_for([&] { return (objects_after = shmray::store_stats().objects) <= objects0; }, 5.0, 0.01);
    const double rss_after = proc::status_mib(self, "VmRSS").value_or(0);

    Json d = Json::object();
    d.set("seconds", dt);
    d.set("submit_s", submit_s);
    d.set("get_s", dt - submit_s);
    d.set("tasks_per_s", n / dt);
    d.set("peak_reset", reset);
    d.set("vm_rss_before_mib", rss0);
    d.set("vm_hwm_before_mib", hwm0);
    d.set("vm_hwm_after_mib", hwm1);
    d.set("peak_delta_mib", hwm1 - rss0);
    if (mem) {
      d.set("vm_rss_at_end_mib", mem->vm_rss_mib);
      d.set("rss_anon_at_end_mib", mem->rss_anon_mib);
      d.set("rss_shmem_at_end_mib", mem->rss_shmem_mib);
    }
    d.set("vm_rss_after_release_mib", rss_after);
    d.set("store_objects_before", objects0);
    d.set("store_objects_at_end", st.objects);
    d.set("store_used_bytes_at_end", st.used_bytes);
    d.set("store_objects_after_release", objects_after);
    details.push(std::move(d));
    progress(
        "    queued rep: %d tasks in %.3f s (submit %.3f s), VmHWM %.1f MiB (+%.1f MiB over VmRSS before), store "
        "objects %zu -> %zu -> %zu",
        n, dt, submit_s, hwm1, hwm1 - rss0, objects0, st.objects, objects_after);
    check(released, "after the refs are dropped the store holds at most the " + std::to_string(objects0) +
                        " objects of before within 5 s (still " + std::to_string(objects_after) + ")");
    values.push_back(dt);
    reps.add(dt);
    peak = std::max(peak, hwm1);
    peak_delta = std::max(peak_delta, hwm1 - rss0);
  }
  Result r = Result::ok(values);
  r.extra.set("n", n);
  r.extra.set("peak_rss_mib", peak);
  r.extra.set("peak_rss_delta_mib", peak_delta);
  r.extra.set("peak_reset", reset_ok);
  r.extra.set("details", std::move(details));
  char buf[400];
  std::snprintf(buf, sizeof buf,
                "%d noop tasks submitted, then get(refs); driver peak RSS (VmHWM%s) %.1f MiB, +%.1f MiB over VmRSS "
                "before; issue target: <= 5 s and peak RSS <= 1 GiB",
                n, reset_ok ? ", reset before each repetition via /proc/self/clear_refs" : ", NOT reset: lifetime peak",
                peak, peak_delta);
  r.note = buf;
  std::snprintf(buf, sizeof buf, " peak RSS %.0f MiB", peak);
  r.cell_suffix = buf;
  return r;
}

}  // namespace bench
