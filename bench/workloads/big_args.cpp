// A large argument passed by value (issue 13, finding 4): submit_100mb_by_value_s.
#include "common.hpp"
#include "workloads.hpp"

namespace bench {
namespace {

/// Stamps the moment its body starts (its argument decoded), then checks the argument is the
/// array the driver made (0, 1, ..., n-1): the stamp, or -1 when it is not.
std::int64_t arrived_ns(std::vector<double> a) {
  const std::int64_t t = mono_ns();
  const bool ok = a.size() == std::size_t(kLargeLen) && a[0] == 0.0 && a.back() == double(kLargeLen - 1);
  return ok ? t : -1;
}
SHMRAY_REMOTE(arrived_ns);

/// Seconds of one memcpy of `n` bytes into `to` (already faulted in, or fresh when `to` was
/// just allocated): the machine's copy speed, the yardstick for the figure.
double memcpy_s(std::byte* to, const std::byte* from, std::size_t n) {
  Stopwatch sw;
  std::memcpy(to, from, n);
  const double dt = sw.seconds();
  volatile std::byte sink = to[n / 2];  // the copy must happen
  (void)sink;
  return dt;
}

double median_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

}  // namespace

/// submit_100mb_by_value_s: task(arrived_ns).remote(arr) with arr a std::vector<double> of
/// 13,107,200 values (100 MiB, made once, untimed) for a by-value parameter. Timed: from the
/// remote() call to the moment the task's body starts with its argument (a CLOCK_MONOTONIC
/// stamp the task returns). Extras: the remote() call alone, and memcpy of 100 MiB in the
/// same run (into a buffer already faulted in, and into a fresh one) for the ratio.
Result submit_100mb_by_value_s(const Context& c) {
  std::vector<double> arr(static_cast<std::size_t>(kLargeLen));
  for (std::size_t i = 0; i < arr.size(); ++i) arr[i] = double(i);
  std::vector<double> remote_s;
  auto once = [&] {
    const std::int64_t t0 = mono_ns();
    shmray::ObjectRef<std::int64_t> r = shmray::task(arrived_ns).remote(arr);
    const std::int64_t t1 = mono_ns();
    const std::int64_t arrived = shmray::get(r);
    check(arrived > 0, "the task got the array intact");
    remote_s.push_back(double(t1 - t0) / 1e9);
    return double(arrived - t0) / 1e9;
  };
  Result r = Result::ok(repeat(Reps(c.p, c.p.put_reps), c.p.warmup ? 1 : 0, once, seconds));
  if (c.p.warmup && !remote_s.empty()) remote_s.erase(remote_s.begin());

  const auto* from = reinterpret_cast<const std::byte*>(arr.data());
  std::vector<double> warm_s, fresh_s;
  std::vector<std::byte> warm(static_cast<std::size_t>(kLargeBytes));  // value-initialized: faulted in
  for (int i = 0; i < 5; ++i) {
    warm_s.push_back(memcpy_s(warm.data(), from, warm.size()));
    std::unique_ptr<std::byte[]> fresh(new std::byte[std::size_t(kLargeBytes)]);
    fresh_s.push_back(memcpy_s(fresh.get(), from, std::size_t(kLargeBytes)));
  }
  r.extra.set("bytes", kLargeBytes);
  r.extra.set("remote_call_s", median_of(remote_s));
  r.extra.set("memcpy_100mb_s", median_of(warm_s));
  r.extra.set("memcpy_100mb_fresh_s", median_of(fresh_s));
  r.note = "remote(std::vector<double> of 100 MiB) for a by-value parameter, until the task's body starts";
  return r;
}

}  // namespace bench
