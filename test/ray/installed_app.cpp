// A user's program: <ray/api.h> is its only include from this project; built by
// check_installed.py against the installed headers, library and shmray-ray.pc.
#include <ray/api.h>

#include <iostream>

int Square(int x) { return x * x; }
RAY_REMOTE(Square);

int main(int argc, char** argv) {
  ray::RayConfig config;
  ray::Init(config, argc, argv);
  std::vector<ray::ObjectRef<int>> refs;
  for (int i = 0; i < 8; ++i) refs.push_back(ray::Task(Square).Remote(i));
  int sum = 0;
  for (const auto& v : ray::Get(refs)) sum += *v;
  ray::Shutdown();
  std::cout << (sum == 140 ? "ok" : "wrong sum") << std::endl;
  return sum == 140 ? 0 : 1;
}
