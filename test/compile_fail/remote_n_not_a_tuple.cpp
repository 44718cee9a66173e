// expect: remote_n<N> needs a function returning a std::tuple
#include <shmray/shmray.hpp>

int square(int x) { return x * x; }
SHMRAY_REMOTE(square);

int main() {
  auto [a, b] = shmray::task(square).remote_n<2>(3);
  return a.get() + b.get();
}
