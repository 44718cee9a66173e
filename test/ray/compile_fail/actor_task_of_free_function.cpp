// expect: Actor method is not a member function of actor class
// handle.Task of a free function (Ray: static_assert, same text); that is ray::Task(f).
#include <ray/api.h>

class Counter {};
Counter* CreateCounter() { return new Counter; }
int Plus1(int x) { return x + 1; }
RAY_REMOTE(CreateCounter, Plus1);

int main() {
  ray::Init();
  auto c = ray::Actor(CreateCounter).Remote();
  return *c.Task(Plus1).Remote(1).Get();
}
