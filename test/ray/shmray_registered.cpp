// C++20 half of test_ray_api: functions registered with shmray's own SHMRAY_REMOTE, whose
// invoker reads shmray's argument format, not this layer's. ray::Task must refuse them.
#include <shmray/shmray.hpp>

namespace ray_test {
int OnlyShmrayRemote(int x) { return x + 100; }
}  // namespace ray_test
SHMRAY_REMOTE(ray_test::OnlyShmrayRemote);

// An actor whose factory and method SHMRAY_REMOTE registered: ray::Actor must refuse it too.
#include "dual_actor.hpp"

namespace ray_test {
Dual* CreateDual() { return new Dual; }
}  // namespace ray_test
SHMRAY_REMOTE(ray_test::CreateDual);
SHMRAY_REMOTE(&ray_test::Dual::Get);
