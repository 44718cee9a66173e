#pragma once
// WorkerControl::log_seq and log_label: the name of the task a worker runs, which the fork
// server puts in the prefix of the worker's output lines, "(pid=N, task=NAME) ". A seqlock
// with one writer (the worker's task thread: it runs every task of the process, inline ones
// too) and no lock: a worker killed mid-write leaves the sequence odd, and the reader then
// gives no name. Costs the worker two stores and a 48-byte copy per task, no syscall.
#include <atomic>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "shm/atomics.hpp"
#include "shm/layout.hpp"

namespace shmray::shm {

/// log_seq: bit 0 set while the label is written, bit 1 set while a task runs, the rest a
/// count of changes (a reader sees any change between two of its looks).
inline constexpr std::uint32_t kLabelWriting = 1, kLabelRunning = 2, kLabelStep = 4;
inline constexpr std::size_t kLabelWords = sizeof(WorkerControl::log_label) / 8;
inline constexpr std::size_t kLabelMax = sizeof(WorkerControl::log_label) - 1;  // bytes of name kept

/// The worker: task `name` (cut to kLabelMax bytes) now runs.
inline void write_running_label(WorkerControl& c, std::string_view name) noexcept {
  const std::uint32_t next = (load_relaxed(c.log_seq) | 3) + 1;  // one writer: its own last value
  store_relaxed(c.log_seq, next | kLabelWriting);
  std::uint64_t words[kLabelWords] = {};
  std::memcpy(words, name.data(), name.size() < kLabelMax ? name.size() : kLabelMax);
  // Release stores, not a fence (ThreadSanitizer has no fences): each orders the odd value
  // before itself, so a reader that sees a byte of the new name sees the odd value after it.
  for (std::size_t i = 0; i < kLabelWords; ++i) store_release(c.log_label[i], words[i]);
  store_release(c.log_seq, next | kLabelRunning);
}

/// The worker: no task runs now. The name stays, for the task's output the fork server reads
/// after the task ended.
inline void write_idle_label(WorkerControl& c) noexcept { store_release(c.log_seq, (load_relaxed(c.log_seq) | 3) + 1); }

struct TaskLabel {
  bool valid = false;    // false: being written (or its writer died then), no name
  bool running = false;  // a task runs now
  std::uint32_t seq = 0;
  std::string name;  // of the task that runs, or last ran
};

/// The fork server: the label as it is now.
inline TaskLabel read_label(WorkerControl& c) {
  TaskLabel l;
  for (int attempt = 0; attempt < 8; ++attempt) {
    const std::uint32_t s1 = load_acquire(c.log_seq);
    if (s1 & kLabelWriting) continue;
    std::uint64_t words[kLabelWords + 1] = {};  // the last word stays 0: always terminated
    // Acquire loads, not a fence: the copy is done before the second look at log_seq.
    for (std::size_t i = 0; i < kLabelWords; ++i) words[i] = load_acquire(c.log_label[i]);
    if (load_relaxed(c.log_seq) != s1) continue;
    const char* text = reinterpret_cast<const char*>(words);
    l.valid = true;
    l.running = (s1 & kLabelRunning) != 0;
    l.seq = s1;
    l.name.assign(text, ::strnlen(text, kLabelMax));
    return l;
  }
  return l;
}

}  // namespace shmray::shm
