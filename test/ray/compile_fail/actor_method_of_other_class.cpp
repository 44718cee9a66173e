// expect: Class types must be same
// handle.Task takes a member function of the actor's own class (Ray: static_assert, same text).
#include <ray/api.h>

class Counter {
 public:
  int Get() const { return 0; }
};
class Other {
 public:
  int Get() const { return 1; }
};
Counter* CreateCounter() { return new Counter; }
RAY_REMOTE(CreateCounter, &Counter::Get, &Other::Get);

int main() {
  ray::Init();
  auto c = ray::Actor(CreateCounter).Remote();
  return *c.Task(&Other::Get).Remote().Get();
}
