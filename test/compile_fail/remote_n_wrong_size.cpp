// expect: N must be the size of the returned tuple
#include <shmray/shmray.hpp>

#include <tuple>

std::tuple<int, int> two(int x) { return {x, x}; }
SHMRAY_REMOTE(two);

int main() {
  auto [a, b, c] = shmray::task(two).remote_n<3>(3);
  return a.get() + b.get() + c.get();
}
