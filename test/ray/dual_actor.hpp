#pragma once
// An actor class both halves of test_ray_actors see: shmray_registered.cpp registers it with
// SHMRAY_REMOTE (C++20), test_ray_actors.cpp tries it through <ray/api.h> (C++17).
namespace ray_test {
class Dual {
 public:
  int Get() const { return 5; }
};
Dual* CreateDual();
}  // namespace ray_test
