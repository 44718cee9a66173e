#pragma once
// Cross-process wake-ups on 32-bit words in the segment. The shared (not _PRIVATE) futex ops
// are needed: std::atomic::wait does not wake across processes with libstdc++ 12.
#include <chrono>
#include <cstdint>

namespace shmray::shm {

/// Sleeps while `*word == expected`, at most `timeout` (negative: no limit).
/// Returns false on timeout. Spurious returns are possible: callers re-check.
bool futex_wait(std::uint32_t* word, std::uint32_t expected, std::chrono::nanoseconds timeout) noexcept;
/// Wakes up to `count` sleepers on `word`.
void futex_wake(std::uint32_t* word, int count) noexcept;
/// Bumps `word` and wakes everyone sleeping on it.
void futex_bump_and_wake_all(std::uint32_t* word) noexcept;

/// Cheap monotonic nanoseconds for spin budgets.
std::uint64_t now_ns() noexcept;

}  // namespace shmray::shm
