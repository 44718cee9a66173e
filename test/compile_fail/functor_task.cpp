// expect: f must be a plain function registered with SHMRAY_REMOTE
#include <functional>

#include <shmray/shmray.hpp>

int main() {
  std::function<int(int)> twice = [](int x) { return 2 * x; };
  shmray::task(twice);
}
