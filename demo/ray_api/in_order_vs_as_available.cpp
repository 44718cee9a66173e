// demo/in_order_vs_as_available written once more against Ray's C++ API (<ray/api.h> only,
// C++17): the same source builds against Ray's library for a cluster (docs/ray-cluster.md).
// Ten tasks; task x sleeps (10 - x) units and returns x, so later tasks finish sooner. After
// each result the driver spends one unit on "business logic". Waiting for whichever result
// is ready first keeps the driver busy while slower tasks still run.
//   ray_in_order_vs_as_available [--unit-ms M] [--ray_head_args=--num-cpus=N]   (M: 1 to 10000, default 100;
//   other --ray_* flags go to ray::Init as they are)
#include <ray/api.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "../demo_flags.hpp"
#include "../in_order_vs_as_available_common.hpp"

namespace {

int SlowIdentity(int x, int unit_ms) { return demo::slow_identity_body(x, unit_ms); }
RAY_REMOTE(SlowIdentity);
using demo::seconds_since;

}  // namespace

int main(int argc, char** argv) {
  int unit_ms = 100;
  demo::Args args(argc, argv, "[--unit-ms M] [--ray_head_args=--num-cpus=N]");
  while (args.next()) {
    if (args.is("--unit-ms")) {
      unit_ms = args.int_value(1, 10000);
    } else if (!args.starts_with("--ray_")) {  // Ray's own flags are ray::Init's to read
      args.unknown();
    }
  }
  ray::RayConfig config;
  config.head_args = {"--num-cpus=10"};  // ten tasks at once; --ray_head_args overrides it
  try {
    ray::Init(config, argc, argv);
  } catch (const ray::internal::RayException& e) {  // mostly a --ray_* flag it refused (--num-cpus=abc)
    args.fail(std::string("cannot start: ") + e.what());
  }
  const auto unit = std::chrono::milliseconds(unit_ms);
  auto submit_all = [&] {
    std::vector<ray::ObjectRef<int>> refs;
    for (int x = 0; x < 10; ++x) refs.push_back(ray::Task(SlowIdentity).Remote(x, unit_ms));
    return refs;
  };

  // 1. All results, in submission order.
  auto t0 = std::chrono::steady_clock::now();
  for (const auto& v : ray::Get(submit_all())) {
    std::cout << "Completed " << *v << std::endl;
    std::this_thread::sleep_for(unit);  // business logic on the result
  }
  const double in_order = seconds_since(t0);
  std::printf("GET took: %.3f\n", in_order);

  // 2. Each result as soon as it is ready.
  t0 = std::chrono::steady_clock::now();
  auto rest = submit_all();
  while (!rest.empty()) {
    ray::WaitResult<int> w = ray::Wait(rest, 1, -1);
    rest.assign(w.unready.begin(), w.unready.end());
    std::cout << "Ready " << w.ready.size() << " rest " << rest.size() << std::endl;
    std::cout << "completed value " << w.ready.front().ID() << ", result " << *ray::Get(w.ready.front()) << std::endl;
    std::this_thread::sleep_for(unit);
  }
  const double as_available = seconds_since(t0);
  std::printf("WAIT took: %.3f\n", as_available);

  // 3. In chunks: five at a time, waiting at most 10 s for each chunk.
  t0 = std::chrono::steady_clock::now();
  rest = submit_all();
  for (int chunk = 1; !rest.empty(); ++chunk) {
    ray::WaitResult<int> w = ray::Wait(rest, static_cast<int>(std::min<std::size_t>(5, rest.size())), 10000);
    rest.assign(w.unready.begin(), w.unready.end());
    std::vector<ray::ObjectRef<int>> ready(w.ready.begin(), w.ready.end());
    std::cout << "chunk " << chunk << ":";
    for (const auto& v : ray::Get(ready)) std::cout << ' ' << *v;
    std::cout << " (rest " << rest.size() << ")" << std::endl;
  }
  std::printf("CHUNKS took: %.3f\n", seconds_since(t0));
  std::printf("as-available / in-order: %.2f\n", as_available / in_order);
  ray::Shutdown();
  return 0;
}
