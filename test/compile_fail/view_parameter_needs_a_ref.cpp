// expect: a View<T> parameter reads a stored object in place: pass an ObjectRef<T> for it
#include <shmray/shmray.hpp>

double first(shmray::View<std::vector<double>> v) { return v[0]; }
SHMRAY_REMOTE(first);

int main() { return static_cast<int>(shmray::task(first).remote(std::vector<double>{1.0}).get()); }
