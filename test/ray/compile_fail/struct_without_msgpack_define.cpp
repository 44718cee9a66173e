// expect: Add MSGPACK_DEFINE(member, ...) to the struct
#include <ray/api.h>

struct Point {
  int x = 0, y = 0;
};
Point Move(Point p) { return Point{p.x + 1, p.y}; }
RAY_REMOTE(Move);

int main() { return ray::Task(Move).Remote(Point{}).Get()->x; }
