#pragma once
/// @file progress.hpp
/// A tqdm-like progress line on stderr for loops that wait for tasks: ProgressBar, and
/// progress(refs), which waits for every ref with one.
#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include "shmray/as_completed.hpp"
#include "shmray/detail/config.hpp"
#include "shmray/object_ref.hpp"

namespace shmray {

/// Options of ProgressBar and progress().
struct ProgressOptions {
  /// Text the line starts with; empty: "shmray".
  std::string label{};
  /// When stderr is not a terminal: a line at most this often (and one at the end). On a
  /// terminal the line is redrawn in place, at most every 100 ms.
  std::chrono::milliseconds interval{5000};
};

/// Shows done/total, the rate and the time left on stderr: redrawn in place when stderr is
/// a terminal (`label: 37/100 [=======>            ]  37% 12.3/s ETA 5s`), else a plain line
/// every `interval` (`label: 37/100 (37%), 12.3/s, ETA 5s`) and one when closed. Feed it from
/// one thread; it does not call the runtime, so it works without init() too.
/// @code
/// shmray::ProgressBar bar(refs.size(), {.label = "squares"});
/// for (auto done : shmray::as_completed(refs)) { use(done.get()); bar.update(); }
/// @endcode
class SHMRAY_API ProgressBar {
 public:
  /// A bar for `total` steps (0: only the final line); the clock starts now.
  explicit ProgressBar(std::size_t total, ProgressOptions options = {});
  /// close().
  ~ProgressBar();
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  /// `n` more steps are done (the count stops at total).
  void update(std::size_t n = 1) noexcept;
  /// The final line (on a terminal: the line, then a newline); later calls do nothing.
  void close() noexcept;
  /// Steps done so far.
  std::size_t done() const noexcept { return done_; }
  /// The total given at construction.
  std::size_t total() const noexcept { return total_; }

 private:
  void draw(bool last) noexcept;
  std::size_t total_;
  std::size_t done_ = 0;
  ProgressOptions options_;
  bool tty_;
  bool closed_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

/// Waits until every ref is final (a failed task counts as done: its ref throws at get()),
/// showing a ProgressBar as they finish. Then get(refs) returns at once.
/// @code
/// shmray::progress(refs, {.label = "squares"});
/// std::vector<int> squares = shmray::get(refs);
/// @endcode
template <class T>
void progress(const std::vector<ObjectRef<T>>& refs, ProgressOptions options = {}) {
  ProgressBar bar(refs.size(), std::move(options));
  for (const ObjectRef<T>& ref : as_completed(refs)) {
    (void)ref;
    bar.update();
  }
}

}  // namespace shmray
