#pragma once
// init()'s options: the 0 defaults filled in, values out of range refused with what to pass
// instead, and the one warning about the process init() forks from.
#include <cstdint>
#include <string>

#include "shmray/options.hpp"

namespace shmray::setup {

/// Fills the 0 defaults; std::invalid_argument naming the field for what is out of range.
Options resolve(Options o);
/// Warns once per process (unless quiet) when it already runs other threads.
void warn_if_threads(const Options& o);
/// "512 MiB", "1.5 GiB".
std::string gib(std::uint64_t bytes);

}  // namespace shmray::setup
