#pragma once
// Shared words are plain integers (so shared structs stay trivially copyable) accessed
// through std::atomic_ref. These helpers keep the call sites short.
#include <atomic>
#include <cstdint>

namespace shmray::shm {

static_assert(std::atomic_ref<std::uint64_t>::is_always_lock_free);
static_assert(std::atomic_ref<std::uint32_t>::is_always_lock_free);

template <class T>
inline std::atomic_ref<T> atom(T& word) noexcept {
  return std::atomic_ref<T>(word);
}
template <class T>
inline T load_acquire(T& word) noexcept {
  return std::atomic_ref<T>(word).load(std::memory_order_acquire);
}
template <class T>
inline T load_relaxed(T& word) noexcept {
  return std::atomic_ref<T>(word).load(std::memory_order_relaxed);
}
template <class T>
inline void store_release(T& word, T v) noexcept {
  std::atomic_ref<T>(word).store(v, std::memory_order_release);
}
template <class T>
inline void store_relaxed(T& word, T v) noexcept {
  std::atomic_ref<T>(word).store(v, std::memory_order_relaxed);
}
template <class T>
inline bool cas(T& word, T& expected, T desired) noexcept {
  return std::atomic_ref<T>(word).compare_exchange_strong(expected, desired, std::memory_order_acq_rel,
                                                          std::memory_order_acquire);
}

inline void cpu_relax() noexcept { __builtin_ia32_pause(); }

/// Store-load barrier for the "publish, then check whether the other side sleeps" pattern
/// (both sides fence between their write and their read). TSan does not support fences;
/// there a locked RMW, which x86 orders the same way, stands in.
inline void full_fence() noexcept {
#if defined(__SANITIZE_THREAD__)
  static std::atomic<int> dummy{0};
  dummy.fetch_add(0, std::memory_order_seq_cst);
#else
  std::atomic_thread_fence(std::memory_order_seq_cst);
#endif
}

}  // namespace shmray::shm
