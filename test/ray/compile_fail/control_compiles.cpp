// expect: compiles
// The control: a whole program with <ray/api.h> as its only include, in C++17.
#include <ray/api.h>

struct Point {
  int x = 0, y = 0;
  MSGPACK_DEFINE(x, y);
};
int Plus(int a, int b) { return a + b; }
Point Move(Point p, int dx) { return Point{p.x + dx, p.y}; }
RAY_REMOTE(Plus, Move);

class Counter {
 public:
  static Counter* FactoryCreate(int start) { return new Counter{start}; }
  int Add(int x) { return n += x; }
  int Get() const { return n; }
  int n = 0;
};
Counter* CreateCounter() { return new Counter; }
int Peek(ray::ActorHandle<Counter> c) { return *c.Task(&Counter::Get).Remote().Get(); }
RAY_REMOTE(CreateCounter, Counter::FactoryCreate, &Counter::Add, &Counter::Get, Peek);

int main() {
  ray::Init();
  auto a = ray::Task(Plus).Remote(1, 2);
  auto b = ray::Task(Plus).Remote(a, 3);
  std::vector<ray::ObjectRef<int>> refs{a, b};
  ray::WaitResult<int> w = ray::Wait(refs, 1, 1000);
  std::list<ray::ObjectRef<int>> rest = w.unready;
  std::shared_ptr<int> v = ray::Get(b);
  std::shared_ptr<Point> p = ray::Task(Move).Remote(Point{}, *v).Get(1000);
  try {
    ray::Get(ray::Put(1), 10);
  } catch (ray::internal::RayTimeoutException&) {
  }
  ray::ActorHandle<Counter> c = ray::Actor(Counter::FactoryCreate).SetName("c").SetMaxRestarts(1).Remote(1);
  ray::ObjectRef<int> added = c.Task(&Counter::Add).Remote(a);
  boost::optional<ray::ActorHandle<Counter>> found = ray::GetActor<Counter>("c");
  if (found) ray::Get(ray::Task(Peek).Remote(*found));
  c.Kill(false);
  ray::Actor(CreateCounter).Remote().Kill();
  try {
    added.Get();
  } catch (ray::internal::RayActorException&) {
  }
  ray::Shutdown();
  return p->x + static_cast<int>(rest.size());
}
