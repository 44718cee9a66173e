// ray_api_bench: the same workloads through shmray's native API and through Ray's C++ API
// (<ray/api.h> on libshmray_ray), in one run on one pool size, so the ratio is like for like.
//   ray_api_bench [--workers N] [--reps R]
// Rows: tasks_sync_per_s (submit noop(i), get it; N times), tasks_async_per_s (submit N,
// then get all), put_gigabytes_per_s (put a 64 MiB byte vector, get it back: bytes / s).
// Each cell is the median of R repetitions; "ray/native" is the ratio (target >= 0.8).
#include <ray/api.h>
#include <shmray/shmray.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

namespace {

int noop(int x) { return x; }
SHMRAY_REMOTE(noop);
int Noop(int x) { return x; }
RAY_REMOTE(Noop);

double seconds(const std::function<void()>& f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
struct Row {
  const char* name;
  double native, ray;
};
/// Both APIs warmed up, then their repetitions interleaved (no ordering advantage).
Row compare(const char* name, int reps, double amount, const std::function<void()>& native,
            const std::function<void()>& ray_api) {
  native();
  ray_api();
  std::vector<double> a, b;
  for (int i = 0; i < reps; ++i) {
    a.push_back(amount / seconds(native));
    b.push_back(amount / seconds(ray_api));
  }
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  return Row{name, a[a.size() / 2], b[b.size() / 2]};
}
void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "ray_api_bench: check failed: %s\n", what);
    std::exit(1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  unsigned workers = 2;
  int reps = 5;
  for (int i = 1; i + 1 < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--workers") workers = static_cast<unsigned>(std::atoi(argv[++i]));
    if (a == "--reps") reps = std::max(1, std::atoi(argv[++i]));
  }
  const int sync_n = 2000, async_n = 10000;
  const std::size_t put_bytes = 64u << 20;
  const std::vector<std::uint8_t> payload(put_bytes, 7);

  // Ray's Init starts the same shmray pool the native rows use.
  ray::RayConfig config;
  config.head_args = {"--num-cpus=" + std::to_string(workers)};
  ray::Init(config);

  std::vector<Row> rows;
  rows.push_back(compare(
      "tasks_sync_per_s", reps, sync_n,
      [&] {
        for (int i = 0; i < sync_n; ++i) require(shmray::get(shmray::task(noop).remote(i)) == i, "noop");
      },
      [&] {
        for (int i = 0; i < sync_n; ++i) require(*ray::Task(Noop).Remote(i).Get() == i, "Noop");
      }));
  rows.push_back(compare(
      "tasks_async_per_s", reps, async_n,
      [&] {
        std::vector<shmray::ObjectRef<int>> refs;
        for (int i = 0; i < async_n; ++i) refs.push_back(shmray::task(noop).remote(i));
        auto v = shmray::get(refs);
        require(v.back() == async_n - 1, "noop");
      },
      [&] {
        std::vector<ray::ObjectRef<int>> refs;
        for (int i = 0; i < async_n; ++i) refs.push_back(ray::Task(Noop).Remote(i));
        auto v = ray::Get(refs);
        require(*v.back() == async_n - 1, "Noop");
      }));
  rows.push_back(compare(
      "put_gigabytes_per_s", reps, put_bytes / 1e9,
      [&] {
        auto ref = shmray::put(payload);
        require(shmray::get(ref).size() == put_bytes, "put");
      },
      [&] {
        auto ref = ray::Put(payload);
        require(ray::Get(ref)->size() == put_bytes, "Put");
      }));
  ray::Shutdown();

  std::printf("%-22s %14s %14s %10s   (%u workers, median of %d)\n", "row", "native", "ray api", "ray/native", workers,
              reps);
  for (const Row& r : rows) std::printf("%-22s %14.2f %14.2f %10.2f\n", r.name, r.native, r.ray, r.ray / r.native);
  return 0;
}
