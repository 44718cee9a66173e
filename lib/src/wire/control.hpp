#pragma once
// Entries of a worker's control ring (driver -> worker): [63:60] kind, [59:0] payload.
// The driver writes them and the worker decodes them, so both include this header.
#include <cstdint>

namespace shmray::wire {

inline constexpr std::uint64_t kControlFree = 1ull << 60;    ///< payload: arena offset to free
inline constexpr std::uint64_t kControlObject = 2ull << 60;  ///< payload: an object slot index for the worker
inline constexpr std::uint64_t kControlTask = 3ull << 60;    ///< payload: a task slot index for the worker
/// An actor's process only: run this task next (after those sent before). Payload: the task
/// slot index in [31:0], the low 28 bits of its generation in [59:32] (the task word has all
/// of it; a stale entry fails the claim).
inline constexpr std::uint64_t kControlRun = 4ull << 60;
/// An actor's process only: once what was sent before has run, destroy the object and exit.
inline constexpr std::uint64_t kControlStop = 5ull << 60;
inline constexpr std::uint64_t run_entry(std::uint64_t task_ref) {
  return kControlRun | std::uint64_t(std::uint32_t(task_ref) - 1) | ((task_ref >> 32) & 0x0fffffffull) << 32;
}
inline constexpr std::uint64_t kControlPayload = (1ull << 60) - 1;

}  // namespace shmray::wire
