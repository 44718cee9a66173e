// The seed's pipelining example: three tasks generate numbers, a fourth sums them. The refs
// of the first three go straight into the fourth: it starts when all three are ready and
// reads their values where they lie in shared memory; only the sum comes back.
#include <shmray/shmray.hpp>

#include <chrono>
#include <iostream>
#include <random>
#include <thread>

#include "demo_flags.hpp"

namespace {

int generate_number(int seed, int limit, int sleep_ms) {
  std::mt19937 rng(static_cast<unsigned>(seed));
  std::this_thread::sleep_for(std::chrono::milliseconds(sleep_ms));
  return std::uniform_int_distribution<int>(0, limit)(rng);
}
SHMRAY_REMOTE(generate_number);

int sum_values(int v1, int v2, int v3) { return v1 + v2 + v3; }
SHMRAY_REMOTE(sum_values);

}  // namespace

int main(int argc, char** argv) {
  demo::Args args(argc, argv, "(takes no flags)");
  while (args.next()) args.unknown();
  shmray::Session session({.num_workers = 4});
  auto a = shmray::task(generate_number).remote(1, 10, 100);
  auto b = shmray::task(generate_number).remote(5, 5, 200);
  auto c = shmray::task(generate_number).remote(7, 15, 300);
  auto total = shmray::task(sum_values).remote(a, b, c);  // refs in, no get in between
  std::cout << "generated " << a.get() << " + " << b.get() << " + " << c.get() << "\n";
  std::cout << "sum_values: " << shmray::get(total) << "\n";
  return 0;
}
