// expect: std::vector<ObjectRef<T>> cannot be passed for a std::vector<T> parameter
#include <shmray/shmray.hpp>

int sum(const std::vector<int>& v) { return static_cast<int>(v.size()); }
SHMRAY_REMOTE(sum);

int main() {
  std::vector<shmray::ObjectRef<int>> refs;
  return shmray::task(sum).remote(refs).get();
}
