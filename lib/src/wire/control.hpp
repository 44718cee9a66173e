#pragma once
// Entries of a worker's control ring (driver -> worker): [63:60] kind, [59:0] payload.
// The driver writes them and the worker decodes them, so both include this header.
#include <cstdint>

namespace shmray::wire {

inline constexpr std::uint64_t kControlFree = 1ull << 60;    ///< payload: arena offset to free
inline constexpr std::uint64_t kControlObject = 2ull << 60;  ///< payload: an object slot index for the worker
inline constexpr std::uint64_t kControlTask = 3ull << 60;    ///< payload: a task slot index for the worker
inline constexpr std::uint64_t kControlPayload = (1ull << 60) - 1;

}  // namespace shmray::wire
