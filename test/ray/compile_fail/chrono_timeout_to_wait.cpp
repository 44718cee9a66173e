// expect: ray::Wait takes its timeout as an int of milliseconds
#include <ray/api.h>

#include <chrono>

int Plus1(int x) { return x + 1; }
RAY_REMOTE(Plus1);

int main() {
  std::vector<ray::ObjectRef<int>> refs{ray::Task(Plus1).Remote(1)};
  auto r = ray::Wait(refs, 1, std::chrono::seconds(1));
  return static_cast<int>(r.ready.size());
}
