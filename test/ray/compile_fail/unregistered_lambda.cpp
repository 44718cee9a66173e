// expect: ray::Task: pass a free function registered with RAY_REMOTE
#include <ray/api.h>

int main() {
  auto f = [](int x) { return x; };
  return *ray::Task(f).Remote(1).Get();
}
