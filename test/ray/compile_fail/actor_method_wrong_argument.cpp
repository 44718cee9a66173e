// expect: arguments not match
// An actor method's arguments are checked as a task's are (Ray's StaticCheck).
#include <ray/api.h>

#include <string>

class Counter {
 public:
  int Add(int x) { return x; }
};
Counter* CreateCounter() { return new Counter; }
RAY_REMOTE(CreateCounter, &Counter::Add);

int main() {
  ray::Init();
  auto c = ray::Actor(CreateCounter).Remote();
  return *c.Task(&Counter::Add).Remote(std::string("one")).Get();
}
