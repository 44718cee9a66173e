// expect: compiles
// The control case: the same includes and flags build a correct program, so a failure in
// the other cases comes from the mistake each one makes, not from the harness.
#include <shmray/shmray.hpp>

int sum(const std::vector<int>& v) {
  int s = 0;
  for (int x : v) s += x;
  return s;
}
SHMRAY_REMOTE(sum);
int sum_refs(std::vector<shmray::ObjectRef<int>> refs) { return static_cast<int>(shmray::get(refs).size()); }
SHMRAY_REMOTE(sum_refs);

int main() {
  std::vector<shmray::ObjectRef<int>> refs;
  auto a = shmray::task(sum).remote(std::vector<int>{1, 2});
  auto b = shmray::task(sum_refs).remote(refs);
  return a.get() + b.get();
}
