// expect: the parameter must have type U
#include <shmray/shmray.hpp>

int twice(int a) { return 2 * a; }
SHMRAY_REMOTE(twice);

int main() {
  shmray::ObjectRef<double> d;
  return shmray::task(twice).remote(d).get();
}
