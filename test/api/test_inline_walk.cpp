// A get() inside a task looks for a queued producer to run inline, walking up the tasks its
// object waits on. That walk must stay short whatever the shape of the graph: a layered graph
// where every task takes both tasks of the layer below has 2^depth paths, and a walk over
// paths (not tasks) would keep the waiting worker busy forever instead of letting it sleep
// and report itself blocked.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <shmray/shmray.hpp>

#include <chrono>
#include <string>
#include <vector>

#include "api/gate.hpp"
#include "support/leak_check.hpp"

namespace {

void touch(const std::string& path) {
  const int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
  if (fd >= 0) ::close(fd);
}

// Says it started, then holds its worker until the gate opens.
int held(std::string started, std::string gate) {
  touch(started);
  shmray_test::wait_for_gate(gate);
  return 1;
}
SHMRAY_REMOTE(held);

int mean(int a, int b) { return (a + b) / 2; }
SHMRAY_REMOTE(mean);

// Gets the (not yet ready) top of the graph from inside a task.
int get_top(std::vector<shmray::ObjectRef<int>> top, std::string started) {
  touch(started);
  return shmray::get(top.at(0));
}
SHMRAY_REMOTE(get_top);

int leaf(int i) { return i; }
SHMRAY_REMOTE(leaf);

}  // namespace

TEST_CASE("InlineWalk.LayeredGraphLetsTheWaiterSleep" * doctest::timeout(120)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 2, .object_store_bytes = 64 << 20, .quiet = true, .max_workers = 3});
  {
    shmray_test::Gate gate, held_started, top_started;
    // One worker holds the graph's source (claimed: never runnable inline).
    auto source = shmray::task(held).remote(held_started.path(), gate.path());
    REQUIRE(shmray_test::eventually([&] { return ::access(held_started.path().c_str(), F_OK) == 0; },
                                    std::chrono::milliseconds(20000)));
    // 40 layers of two tasks, each taking both tasks of the layer below: 2^40 paths, 80 tasks.
    std::vector<shmray::ObjectRef<int>> layer{source, source};
    for (int depth = 0; depth < 40; ++depth)
      layer = {shmray::task(mean).remote(layer[0], layer[1]), shmray::task(mean).remote(layer[1], layer[0])};
    // The other worker waits for the top inside a task (a ref in a vector: not an argument
    // the task waits for, so it starts at once).
    auto waiter = shmray::task(get_top).remote(std::vector<shmray::ObjectRef<int>>{layer[0]}, top_started.path());
    REQUIRE(shmray_test::eventually([&] { return ::access(top_started.path().c_str(), F_OK) == 0; },
                                    std::chrono::milliseconds(20000)));
    // Unrelated work runs only on an extra worker, which the driver starts once the waiter
    // sleeps and says it is blocked.
    auto other = shmray::task(leaf).remote(7);
    CHECK(shmray::get(other, std::chrono::seconds(30)) == 7);
    gate.open();
    CHECK(shmray::get(waiter, std::chrono::seconds(60)) == 1);
  }
  shmray::shutdown();
}
