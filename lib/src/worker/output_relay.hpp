#pragma once
// The fork server's relay of worker output: each worker's stdout and stderr (a pipe each)
// go to the driver's, one "(pid=N) " prefixed line at a time, with bounded memory and
// without ever blocking the fork server on a stream nobody reads.
#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "shm/task_label.hpp"

namespace shmray::worker {

using Clock = std::chrono::steady_clock;

// Bounds of the relay. A worker line longer than kMaxPartial is relayed in pieces of that
// size (each with its prefix), so no amount of output without newlines costs more than
// kMaxPartial per stream of a worker. At most kMaxQueued bytes wait for each of the driver's
// streams; while the driver's stream drains, workers are held back by their pipes (nothing
// is lost); once it has taken nothing for kStall, further output is dropped and a marker
// says how much.
inline constexpr std::size_t kMaxPartial = 64 << 10;
inline constexpr std::size_t kMaxQueued = 1 << 20;
inline constexpr std::chrono::seconds kStall{1};

/// One of the driver's output streams (fd 1 or 2). Never written without POLLOUT, and never
/// made O_NONBLOCK: that flag lives on the open file description the host shares.
struct Sink {
  int fd = -1;
  std::string q;
  std::size_t head = 0;
  std::uint64_t dropped = 0;
  bool broken = false;  // closed, or its reader went away: drop everything from now on
  Clock::time_point progress = Clock::now();

  std::size_t pending() const { return q.size() - head; }
  // Full and taking nothing: stop holding workers back, drop instead.
  bool stalled(Clock::time_point now) const { return pending() >= kMaxQueued && now - progress >= kStall; }
  bool accepting(Clock::time_point now) const { return broken || pending() < kMaxQueued || stalled(now); }

  void put(std::string_view prefix, std::string_view a, std::string_view b, bool newline);
  void note_dropped();
  // Writes what the stream takes now; never blocks.
  void flush_some();
  void fail();
};

struct Stream {
  int fd = -1;
  std::string partial;  // bytes after the last newline, fewer than kMaxPartial
  // log_seq of an idle worker whose pipe a read emptied: what comes later, with the label
  // unchanged, was written after its last task ended and carries no task name.
  bool quiet = false;
  std::uint32_t quiet_seq = 0;
};

/// The prefix of the lines one read of a worker's stream completes, from the worker's label
/// (shm/task_label.hpp) just before and just after the read: "(pid=N, task=NAME) " while it
/// runs a task, and for its last task's output read after that task ended; "(pid=N) " for
/// what it wrote outside tasks (before its first, or once a read emptied the pipe after the
/// last one ended). `drained`: the read did not fill its buffer (the pipe held no more).
/// Output of a task that was still in the pipe when the worker had already started another
/// can carry the later task's name: the name is told without a syscall in the worker.
std::string line_prefix(pid_t pid, const shm::TaskLabel& before, const shm::TaskLabel& after, bool drained, Stream& s);

/// Adds `data`, read from a worker's stream `s`, to `sink` as whole lines prefixed with
/// `prefix` (a line of kMaxPartial bytes without its end goes as a line of its own). Each
/// byte is scanned once.
void relay_take(std::string_view prefix, Stream& s, Sink& sink, std::string_view data);
/// The worker's stream ended: relays its unfinished line and closes it.
void end_stream(std::string_view prefix, Stream& s, Sink& sink);

}  // namespace shmray::worker
