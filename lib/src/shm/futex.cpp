#include "shm/futex.hpp"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <climits>

#include "shm/atomics.hpp"
#include "shm/words.hpp"

namespace shmray::shm {

bool futex_wait(std::uint32_t* word, std::uint32_t expected, std::chrono::nanoseconds timeout) noexcept {
  timespec ts{};
  timespec* tsp = nullptr;
  if (timeout.count() >= 0) {
    ts.tv_sec = static_cast<time_t>(timeout.count() / 1'000'000'000);
    ts.tv_nsec = static_cast<long>(timeout.count() % 1'000'000'000);
    tsp = &ts;
  }
  const long rc = syscall(SYS_futex, word, FUTEX_WAIT, expected, tsp, nullptr, 0);
  return !(rc == -1 && errno == ETIMEDOUT);
}

void futex_wake(std::uint32_t* word, int count) noexcept {
  syscall(SYS_futex, word, FUTEX_WAKE, count, nullptr, nullptr, 0);
}

void futex_bump_and_wake_all(std::uint32_t* word) noexcept {
  atom(*word).fetch_add(1, std::memory_order_seq_cst);
  futex_wake(word, INT_MAX);
}

bool wake_if_sleeping(WorkerControl& w) noexcept {
  std::uint32_t st = std::uint32_t(WorkerState::kSleeping);
  if (load_relaxed(w.state) != st) return false;  // a plain read first: the line is the worker's own
  if (!cas(w.state, st, std::uint32_t(WorkerState::kIdle))) return false;
  atom(w.wake).fetch_add(1, std::memory_order_seq_cst);
  futex_wake(&w.wake, 1);
  return true;
}

std::uint64_t now_ns() noexcept {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::uint64_t(ts.tv_sec) * 1'000'000'000ull + std::uint64_t(ts.tv_nsec);
}

}  // namespace shmray::shm
