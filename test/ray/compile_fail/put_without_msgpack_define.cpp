// expect: Add MSGPACK_DEFINE(member, ...) to the struct
#include <ray/api.h>

struct Point {
  int x = 0, y = 0;
};

int main() { return ray::Put(Point{}).Get()->x; }
