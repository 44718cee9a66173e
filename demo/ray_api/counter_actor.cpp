// An actor in Ray's C++ API (<ray/api.h> only, C++17; the same source builds against Ray's
// library for a cluster, docs/ray-cluster.md). A Tally actor keeps a running sum; N tasks
// each square a number and add it to the tally through the handle they are given; the
// driver then finds the actor by name, reads the sum, and kills it.
//   ray_counter_actor [--tasks N] [--ray_head_args=--num-cpus=N]   (N: 1 to 1000, default 10;
//   other --ray_* flags go to ray::Init as they are)
#include <ray/api.h>

#include <cstdio>
#include <string>
#include <vector>

#include "../demo_flags.hpp"

namespace {

class Tally {
 public:
  explicit Tally(long start) : sum_(start) {}
  long Add(long x) {
    ++calls_;
    return sum_ += x;
  }
  long Sum() const { return sum_; }
  int Calls() const { return calls_; }

 private:
  long sum_;
  int calls_ = 0;
};
Tally* CreateTally(long start) { return new Tally(start); }

/// A task: squares `x` and adds it to the tally it was given; returns what the tally said.
long AddSquare(ray::ActorHandle<Tally> tally, long x) { return *tally.Task(&Tally::Add).Remote(x * x).Get(); }

RAY_REMOTE(CreateTally, &Tally::Add, &Tally::Sum, &Tally::Calls, AddSquare);

}  // namespace

int main(int argc, char** argv) {
  int tasks = 10;
  demo::Args args(argc, argv, "[--tasks N] [--ray_head_args=--num-cpus=N]");
  while (args.next()) {
    if (args.is("--tasks")) {
      tasks = args.int_value(1, 1000);
    } else if (!args.starts_with("--ray_")) {  // Ray's own flags are ray::Init's to read
      args.unknown();
    }
  }
  ray::RayConfig config;
  try {
    ray::Init(config, argc, argv);
  } catch (const ray::internal::RayException& e) {  // mostly a --ray_* flag it refused (--num-cpus=abc)
    args.fail(std::string("cannot start: ") + e.what());
  }
  {
    ray::ActorHandle<Tally> tally = ray::Actor(CreateTally).SetName("tally").Remote(0L);
    std::vector<ray::ObjectRef<long>> adds;
    for (long x = 1; x <= tasks; ++x) adds.push_back(ray::Task(AddSquare).Remote(tally, x));
    ray::Get(adds);  // every task's call has run on the actor

    auto found = ray::GetActor<Tally>("tally");  // as another process of the job would
    if (!found) return 1;
    const long sum = *(*found).Task(&Tally::Sum).Remote().Get();
    const int calls = *(*found).Task(&Tally::Calls).Remote().Get();
    const long expected = static_cast<long>(tasks) * (tasks + 1) * (2L * tasks + 1) / 6;
    std::printf("calls: %d, total: %ld (expected %ld)\n", calls, sum, expected);

    tally.Kill();
    try {
      tally.Task(&Tally::Sum).Remote().Get();
    } catch (const ray::internal::RayActorException&) {
      std::printf("after Kill: RayActorException\n");
    }
    if (sum != expected || calls != tasks) return 1;
  }
  ray::Shutdown();
  return 0;
}
