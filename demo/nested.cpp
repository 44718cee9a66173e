// The seed's nested-tasks example: remote functions that start remote functions. One
// returns the refs of the tasks it started (the caller waits on them as they finish), the
// other waits for them itself and returns their values.
#include <shmray/shmray.hpp>

#include <chrono>
#include <iostream>
#include <random>
#include <thread>
#include <vector>

#include "demo_flags.hpp"

namespace {

int generate_number(int seed, int limit, int sleep_ms) {
  std::mt19937 rng(static_cast<unsigned>(seed));
  std::this_thread::sleep_for(std::chrono::milliseconds(sleep_ms));
  return std::uniform_int_distribution<int>(0, limit)(rng);
}
SHMRAY_REMOTE(generate_number);

std::vector<shmray::ObjectRef<int>> remote_objrefs(int n) {
  std::vector<shmray::ObjectRef<int>> results;
  for (int i = 0; i < n; ++i) results.push_back(shmray::task(generate_number).remote(i, 4 * i, 100 * i));
  return results;  // refs outlive this task
}
SHMRAY_REMOTE(remote_objrefs);

std::vector<int> remote_values(int n) {
  std::vector<shmray::ObjectRef<int>> results;
  for (int i = 0; i < n; ++i) results.push_back(shmray::task(generate_number).remote(i, 4 * i, 100 * i));
  return shmray::get(results);  // waiting inside a task never deadlocks the pool
}
SHMRAY_REMOTE(remote_values);

void print(const std::vector<int>& v) {
  std::cout << '[';
  for (std::size_t i = 0; i < v.size(); ++i) std::cout << (i ? ", " : "") << v[i];
  std::cout << "]\n";
}

}  // namespace

int main(int argc, char** argv) {
  demo::Args args(argc, argv, "(takes no flags)");
  while (args.next()) args.unknown();
  shmray::Session session({.num_workers = 2});
  const int n = 4;
  print(shmray::get(shmray::task(remote_values).remote(n)));

  auto futures = shmray::get(shmray::task(remote_objrefs).remote(n));
  while (!futures.empty()) {
    auto [ready, rest] = shmray::wait(futures, {.num_returns = 1});
    futures = std::move(rest);
    print(shmray::get(ready));
  }
  return 0;
}
