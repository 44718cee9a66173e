// The seed's example: getting results in submission order versus as they become available.
// Ten tasks; task x sleeps (10 - x) units and returns x, so later tasks finish sooner. After
// each result the driver spends one unit on "business logic". Waiting for whichever result
// is ready first keeps the driver busy while slower tasks still run.
//   in_order_vs_as_available [--workers N] [--unit-ms M] [--timeline FILE]
//   (N: 1 to 1024, default 10; M: 1 to 10000, default 100; FILE: Options::timeline, the task
//   timeline written at exit: scripts/plot_timeline.py FILE out.png draws it)
#include <shmray/shmray.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "demo_flags.hpp"
#include "in_order_vs_as_available_common.hpp"

namespace {

int slow_identity(int x, int unit_ms) { return demo::slow_identity_body(x, unit_ms); }
SHMRAY_REMOTE(slow_identity);
using demo::seconds_since;

}  // namespace

int main(int argc, char** argv) {
  unsigned workers = 10;
  int unit_ms = 100;
  std::string timeline;
  demo::Args args(argc, argv, "[--workers N] [--unit-ms M] [--timeline FILE]");
  while (args.next()) {
    if (args.is("--workers")) {
      workers = static_cast<unsigned>(args.int_value(1, 1024));  // init's limit
    } else if (args.is("--unit-ms")) {
      unit_ms = args.int_value(1, 10000);  // 10 s a unit: a run of about 13 minutes
    } else if (args.is("--timeline")) {
      timeline = args.string_value();
    } else {
      args.unknown();
    }
  }
  const auto unit = std::chrono::milliseconds(unit_ms);
  shmray::Session session({.num_workers = workers, .timeline = timeline});  // empty: SHMRAY_TIMELINE, else none
  // Each part's tasks carry its name: on the timeline (--timeline) they tell the parts apart.
  auto submit_all = [&](const char* part) {
    std::vector<shmray::ObjectRef<int>> refs;
    for (int x = 0; x < 10; ++x) refs.push_back(shmray::task(slow_identity).options({.name = part}).remote(x, unit_ms));
    return refs;
  };

  // 1. All results, in submission order.
  auto t0 = std::chrono::steady_clock::now();
  for (int v : shmray::get(submit_all("1. get in order"))) {
    std::cout << "Completed " << v << std::endl;
    std::this_thread::sleep_for(unit);  // business logic on the result
  }
  const double in_order = seconds_since(t0);
  std::printf("GET took: %.3f\n", in_order);

  // 2. Each result as soon as it is ready.
  t0 = std::chrono::steady_clock::now();
  auto rest = submit_all("2. wait as available");
  while (!rest.empty()) {
    auto [ready, still] = shmray::wait(rest, {.num_returns = 1});
    rest = std::move(still);
    std::cout << "Ready " << ready.size() << " rest " << rest.size() << std::endl;
    std::cout << "completed value " << ready[0] << ", result " << shmray::get(ready[0]) << std::endl;
    std::this_thread::sleep_for(unit);
  }
  const double as_available = seconds_since(t0);
  std::printf("WAIT took: %.3f\n", as_available);

  // 3. In chunks: five at a time, waiting at most 10 s for each chunk.
  t0 = std::chrono::steady_clock::now();
  rest = submit_all("3. wait in chunks of 5");
  for (int chunk = 1; !rest.empty(); ++chunk) {
    auto [ready, still] =
        shmray::wait(rest, {.num_returns = std::min<std::size_t>(5, rest.size()), .timeout = std::chrono::seconds(10)});
    rest = std::move(still);
    std::cout << "chunk " << chunk << ":";
    for (int v : shmray::get(ready)) std::cout << ' ' << v;
    std::cout << " (rest " << rest.size() << ")" << std::endl;
  }
  std::printf("CHUNKS took: %.3f\n", seconds_since(t0));
  std::printf("as-available / in-order: %.2f\n", as_available / in_order);
  return 0;
}
