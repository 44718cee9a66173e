// expect: compiles
// task() still takes every spelling of a plain function: by name, by address, a captureless
// lambda turned into a pointer with +, a function pointer variable.
#include <shmray/shmray.hpp>

int twice(int x) { return 2 * x; }
SHMRAY_REMOTE(twice);

int main() {
  int (*p)(int) = twice;
  auto a = shmray::task(twice).remote(1);
  auto b = shmray::task(&twice).remote(2);
  auto c = shmray::task(p).remote(3);
  auto d = shmray::task(+[](int x) { return x; });
  (void)d;
  return a.get() + b.get() + c.get();
}
