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
  ray::Shutdown();
  return p->x + static_cast<int>(rest.size());
}
