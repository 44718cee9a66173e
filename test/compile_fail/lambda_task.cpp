// expect: wrap the call in a named function at namespace scope and add SHMRAY_REMOTE
#include <shmray/shmray.hpp>

int main() {
  auto twice = [](int x) { return 2 * x; };
  return shmray::task(twice).remote(1).get();
}
