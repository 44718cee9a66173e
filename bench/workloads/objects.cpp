// The object store: put_gigabytes_per_s, pipeline_large_s, pipeline_large_s_copy.
#include "common.hpp"
#include "workloads.hpp"

namespace bench {

/// put_gigabytes_per_s: put() a std::vector<double> of 13,107,200 random values (100 MiB,
/// made once, untimed) until put returns the ref. Figure 104857600 / 1e9 / elapsed.
Result put_gigabytes_per_s(const Context& c) {
  std::vector<double> arr(static_cast<std::size_t>(kLargeLen));
  {
    std::mt19937_64 rng(0);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    for (double& x : arr) x = u(rng);  // random: incompressible
  }
  auto once = [&] {
    Stopwatch sw;
    shmray::ObjectRef<std::vector<double>> ref = shmray::put(arr);
    const double dt = sw.seconds();
    // Untimed: the stored object is the array (a zero-copy look), then the ref is dropped.
    const shmray::View<std::vector<double>> v = shmray::get_view(ref);
    check(v.size() == arr.size() && v.data()[0] == arr[0] && v.data()[arr.size() - 1] == arr.back(),
          "the stored object holds the array");
    return dt;
  };
  Result r =
      Result::ok(repeat(Reps(c.p, c.p.put_reps), c.p.warmup ? 1 : 0, once, per_second(double(kLargeBytes) / 1e9)));
  r.extra.set("bytes", kLargeBytes);
  r.extra.set("as_task_argument", false);
  r.note = "shmray::put(std::vector<double>) into the shared-memory store; returns the ref";
  return r;
}

namespace {

/// pipeline_large_s: b = task(sum_array).remote(task(make_array).remote(13107200)); get(b)
/// == 85899338956800. Timed: submitting A to B's result in the driver. A writes its 100 MiB
/// straight into the store (Buffer) and B reads it there (View): no copy at all.
/// pipeline_large_s_copy (ours): the plain way, std::vector result and const& parameter:
/// the array is copied into the store, and again into B's private vector.
template <auto Make, auto Sum>
Result pipeline_large(const Context& c, const char* note) {
  auto once = [] {
    Stopwatch sw;
    const double s = shmray::get(shmray::task(Sum).remote(shmray::task(Make).remote(kLargeLen)));
    const double dt = sw.seconds();
    check(s == kLargeSum, "sum_array(make_array(13107200)) == 85899338956800 (got " + std::to_string(s) + ")");
    return dt;
  };
  Result r = Result::ok(repeat(Reps(c.p, c.p.pipeline_reps), c.p.warmup ? 1 : 0, once, seconds));
  r.extra.set("bytes", kLargeBytes);
  r.extra.set("via_driver", false);
  r.note = note;
  return r;
}
}  // namespace

Result pipeline_large_s(const Context& c) {
  return pipeline_large<make_array, sum_array>(
      c, "A writes a Buffer straight into the store, B (its ref as argument) reads it in place through a View");
}
Result pipeline_large_s_copy(const Context& c) {
  return pipeline_large<make_array_vector, sum_array_copy>(
      c, "std::vector result (copied into the store) and const& parameter (copied out again)");
}

}  // namespace bench
