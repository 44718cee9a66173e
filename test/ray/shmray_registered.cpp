// C++20 half of test_ray_api: functions registered with shmray's own SHMRAY_REMOTE, whose
// invoker reads shmray's argument format, not this layer's. ray::Task must refuse them.
#include <shmray/shmray.hpp>

namespace ray_test {
int OnlyShmrayRemote(int x) { return x + 100; }
}  // namespace ray_test
SHMRAY_REMOTE(ray_test::OnlyShmrayRemote);
