#pragma once
#include <string>

namespace shmray::driver {

/// Writes `line` and a newline to the host's stderr at once or not at all: never blocks (a
/// stderr nobody drains) and never raises SIGPIPE (one whose reader is gone). worker_pool.cpp.
void warn(const std::string& line) noexcept;

}  // namespace shmray::driver
