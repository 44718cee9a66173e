#pragma once
// What demo/in_order_vs_as_available.cpp (shmray's API) and demo/ray_api/ (Ray's) share:
// the task's body and the clock. C++17 and no API header, so the Ray one still builds
// against Ray's headers alone.
#include <chrono>
#include <thread>

namespace demo {

/// Task x sleeps (10 - x) units and returns x, so later tasks finish sooner.
inline int slow_identity_body(int x, int unit_ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds((10 - x) * unit_ms));
  return x;
}

inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace demo
