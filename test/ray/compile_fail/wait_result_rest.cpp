// expect: has no member named 'rest'
// Ray's WaitResult names its two lists ready and unready.
#include <ray/api.h>

int Plus1(int x) { return x + 1; }
RAY_REMOTE(Plus1);

int main() {
  std::vector<ray::ObjectRef<int>> refs{ray::Task(Plus1).Remote(1)};
  auto r = ray::Wait(refs, 1, 1000);
  return static_cast<int>(r.rest.size());
}
