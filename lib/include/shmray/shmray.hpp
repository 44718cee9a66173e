#pragma once
/// @file shmray.hpp
/// The one include of shmray: Ray-style remote functions in a pool of forked worker
/// processes that share memory.
/// @code
/// #include <shmray/shmray.hpp>
/// int square(int x) { return x * x; }
/// SHMRAY_REMOTE(square);
/// int main() {
///   shmray::init({.num_workers = 2});
///   auto r = shmray::task(square).remote(7);
///   return shmray::get(r) == 49 ? 0 : 1;
/// }
/// @endcode

// cereal support for the std types most tasks use; include others (<cereal/types/...>) yourself.
#include <cereal/types/array.hpp>
#include <cereal/types/map.hpp>
#include <cereal/types/optional.hpp>
#include <cereal/types/string.hpp>
#include <cereal/types/tuple.hpp>
#include <cereal/types/unordered_map.hpp>
#include <cereal/types/utility.hpp>
#include <cereal/types/vector.hpp>
#include "shmray/detail/config.hpp"

#include "shmray/actor.hpp"
#include "shmray/api.hpp"
#include "shmray/as_completed.hpp"
#include "shmray/buffer.hpp"
#include "shmray/errors.hpp"
#include "shmray/future.hpp"
#include "shmray/log.hpp"
#include "shmray/map.hpp"
#include "shmray/object_ref.hpp"
#include "shmray/options.hpp"
#include "shmray/progress.hpp"
#include "shmray/remote.hpp"
#include "shmray/stats.hpp"
#include "shmray/task.hpp"
#include "shmray/version.hpp"
#include "shmray/view.hpp"

namespace shmray {
///@{
/// The headers' version as constants (SHMRAY_VERSION_MAJOR/MINOR/PATCH); version() gives
/// the library's.
inline constexpr int kVersionMajor = SHMRAY_VERSION_MAJOR;
inline constexpr int kVersionMinor = SHMRAY_VERSION_MINOR;
inline constexpr int kVersionPatch = SHMRAY_VERSION_PATCH;
///@}
}  // namespace shmray
