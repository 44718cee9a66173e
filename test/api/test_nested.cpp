// Tasks that submit tasks: every API call works inside a task, no shape of nesting
// deadlocks, and the number of worker processes stays within max_workers.
#include <doctest/doctest.h>
#include <unistd.h>

#include <shmray/shmray.hpp>

#include <atomic>
#include <chrono>
#include <random>
#include <thread>
#include <vector>

#include "support/leak_check.hpp"
#include "support/procs.hpp"

namespace {

int generate_number(int seed, int limit) {
  std::mt19937 rng(static_cast<unsigned>(seed));
  return std::uniform_int_distribution<int>(0, limit)(rng);
}
SHMRAY_REMOTE(generate_number);

// The seed's two variants: return the refs of the started tasks, or wait and return values.
std::vector<shmray::ObjectRef<int>> remote_objrefs(int n) {
  std::vector<shmray::ObjectRef<int>> refs;
  for (int i = 0; i < n; ++i) refs.push_back(shmray::task(generate_number).remote(i, 4 * n));
  return refs;
}
SHMRAY_REMOTE(remote_objrefs);

std::vector<int> remote_values(int n) { return shmray::get(remote_objrefs(n)); }
SHMRAY_REMOTE(remote_values);

int fib(int n) {
  if (n < 2) return n;
  auto a = shmray::task(fib).remote(n - 1);
  auto b = shmray::task(fib).remote(n - 2);
  return shmray::get(a) + shmray::get(b);
}
SHMRAY_REMOTE(fib);

int chain(int depth) { return depth == 0 ? 0 : shmray::get(shmray::task(chain).remote(depth - 1)) + 1; }
SHMRAY_REMOTE(chain);

int leaf(int i) { return i; }
SHMRAY_REMOTE(leaf);

long fan_out(int n) {
  std::vector<shmray::ObjectRef<int>> refs;
  for (int i = 0; i < n; ++i) refs.push_back(shmray::task(leaf).remote(i));
  long sum = 0;
  while (!refs.empty()) {
    auto [ready, rest] = shmray::wait(refs, {.num_returns = std::min<std::size_t>(250, refs.size())});
    for (int v : shmray::get(ready)) sum += v;
    refs = std::move(rest);
  }
  return sum;
}
SHMRAY_REMOTE(fan_out);

struct Bundle {
  std::vector<shmray::ObjectRef<std::vector<double>>> parts;
  std::string label;
  template <class A>
  void serialize(A& ar) {
    ar(parts, label);
  }
};
Bundle make_bundle(int parts, int doubles) {
  Bundle b;
  b.label = "bundle";
  for (int i = 0; i < parts; ++i) b.parts.push_back(shmray::put(std::vector<double>(std::size_t(doubles), double(i))));
  return b;
}
SHMRAY_REMOTE(make_bundle);

double total(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s;
}
SHMRAY_REMOTE(total);

// Pipelining from inside a task: a ref made here feeds a task submitted here.
double nested_pipeline(int n) {
  auto data = shmray::put(std::vector<double>(std::size_t(n), 2.0));
  return shmray::get(shmray::task(total).remote(data));
}
SHMRAY_REMOTE(nested_pipeline);

int sum_of(const std::vector<int>& v) {
  int s = 0;
  for (int x : v) s += x;
  return s;
}
SHMRAY_REMOTE(sum_of);

// Counts live processes below this one (fork server and workers) while a test runs.
class ProcessSampler {
 public:
  ProcessSampler() : thread_([this] { run(); }) {}
  ~ProcessSampler() { stop(); }
  int stop() {
    done_ = true;
    if (thread_.joinable()) thread_.join();
    return max_;
  }

 private:
  static int descendants(int root) {
    const auto procs = shmray::test::all_processes();
    int n = 0;
    std::vector<int> frontier{root};
    while (!frontier.empty()) {
      const int p = frontier.back();
      frontier.pop_back();
      for (const auto& q : procs)
        if (q.ppid == p && q.state != 'Z') ++n, frontier.push_back(q.pid);
    }
    return n;
  }
  void run() {
    while (!done_) {
      max_ = std::max(max_, descendants(::getpid()));
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }
  std::atomic<bool> done_{false};
  int max_ = 0;
  std::thread thread_;
};

}  // namespace

TEST_CASE("Nested.SeedExampleBothVariants" * doctest::timeout(60)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 2, .object_store_bytes = 64 << 20, .quiet = true});
  const int n = 8;
  std::vector<int> values = shmray::get(shmray::task(remote_values).remote(n));
  REQUIRE(values.size() == std::size_t(n));
  for (int v : values) CHECK((v >= 0 && v <= 4 * n));
  // The refs outlive the task that started them; the driver waits on them as they come.
  auto refs = shmray::get(shmray::task(remote_objrefs).remote(n));
  REQUIRE(refs.size() == std::size_t(n));
  std::size_t seen = 0;
  while (!refs.empty()) {
    auto [ready, rest] = shmray::wait(refs, {.num_returns = 1});
    for (int v : shmray::get(ready)) {
      CHECK((v >= 0 && v <= 4 * n));
      ++seen;
    }
    refs = std::move(rest);
  }
  CHECK(seen == std::size_t(n));
}

TEST_CASE("Nested.FibWithTwoWorkersAndWithOne" * doctest::timeout(120)) {
  for (unsigned workers : {2u, 1u}) {
    shmray::test::NoLeaks guard;
    const unsigned max_workers = workers + 2;
    shmray::init({.num_workers = workers, .object_store_bytes = 64 << 20, .quiet = true, .max_workers = max_workers});
    ProcessSampler sampler;
    CHECK(shmray::get(shmray::task(fib).remote(15)) == 610);  // 1,973 tasks
    CHECK(shmray::get(shmray::task(fib).remote(10)) == 55);
    const int peak = sampler.stop();
    CHECK(peak <= int(max_workers) + 1);  // workers + the fork server
  }
}

TEST_CASE("Nested.ChainOfDepth500" * doctest::timeout(120)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 2, .object_store_bytes = 64 << 20, .quiet = true, .max_workers = 4});
  ProcessSampler sampler;
  CHECK(shmray::get(shmray::task(chain).remote(500)) == 500);
  CHECK(sampler.stop() <= 5);
}

TEST_CASE("Nested.FanOutOf10000ChildrenWaitedInChunks" * doctest::timeout(120)) {
  for (unsigned workers : {2u, 1u}) {
    shmray::test::NoLeaks guard;
    shmray::init({.num_workers = workers, .object_store_bytes = 64 << 20, .quiet = true, .max_workers = workers + 2});
    ProcessSampler sampler;
    CHECK(shmray::get(shmray::task(fan_out).remote(10000)) == 10000L * 9999 / 2);
    CHECK(sampler.stop() <= int(workers) + 3);
  }
}

TEST_CASE("Nested.RefsMadeInAWorkerOutliveItAndAreFreedAfter" * doctest::timeout(60)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 2, .object_store_bytes = 64 << 20, .quiet = true});
  const shmray::StoreStats base = shmray::store_stats();
  {
    Bundle b = shmray::get(shmray::task(make_bundle).remote(10, 100000));  // 10 x 800 KB, made in the worker
    CHECK(b.label == "bundle");
    REQUIRE(b.parts.size() == 10);
    for (int i = 0; i < 10; ++i) {
      auto v = shmray::get_view(b.parts[std::size_t(i)]);
      REQUIRE(v.size() == 100000);
      CHECK(v[99999] == double(i));
    }
    // A worker can read them too: pass one to another task.
    CHECK(shmray::get(shmray::task(total).remote(b.parts[3])) == doctest::Approx(300000.0));
    CHECK(shmray::store_stats().objects >= base.objects + 10);
  }
  // Dropped everywhere: back to baseline (frees are processed asynchronously).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  shmray::StoreStats now = shmray::store_stats();
  while ((now.objects != base.objects || now.used_bytes > base.used_bytes + (8u << 20)) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    now = shmray::store_stats();
  }
  CHECK(now.objects == base.objects);
  // Reused: many more bundles than the 64 MiB store holds at once.
  for (int round = 0; round < 20; ++round) {
    Bundle b = shmray::get(shmray::task(make_bundle).remote(4, 1 << 20));  // 32 MiB each round
    CHECK(shmray::get(shmray::task(total).remote(b.parts[1])) == doctest::Approx(double(1 << 20)));
  }
}

TEST_CASE("Nested.PutAndPipeliningInsideATask" * doctest::timeout(60)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 2, .object_store_bytes = 64 << 20, .quiet = true});
  CHECK(shmray::get(shmray::task(nested_pipeline).remote(1000)) == doctest::Approx(2000.0));
}

TEST_CASE("Nested.ErrorsOfChildrenReachTheParent" * doctest::timeout(60)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 2, .object_store_bytes = 64 << 20, .quiet = true});
  // remote_values(-1) submits nothing and returns an empty vector; fib of a child that
  // throws: use sum_of over a failed get instead.
  auto empty = shmray::get(shmray::task(remote_values).remote(0));
  CHECK(empty.empty());
  CHECK(shmray::get(shmray::task(sum_of).remote(std::vector<int>{1, 2, 3})) == 6);
}

namespace {
std::string wait_twice_inside() {
  auto r = shmray::task(leaf).remote(1);
  try {
    shmray::wait(std::vector<shmray::ObjectRef<int>>{r, r});
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "accepted";
}
SHMRAY_REMOTE(wait_twice_inside);
}  // namespace

TEST_CASE("Nested.WaitInsideATaskChecksItsArgumentsLikeTheDriver" * doctest::timeout(30)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 2, .object_store_bytes = 16 << 20, .quiet = true});
  CHECK(shmray::get(shmray::task(wait_twice_inside).remote()).find("appears twice") != std::string::npos);
}
