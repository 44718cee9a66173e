// ProgressBar: one line on stderr, redrawn in place on a terminal, repeated every
// `interval` elsewhere (a log file, a CI job's output).
#include "shmray/progress.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>

namespace shmray {

namespace {
constexpr std::chrono::milliseconds kTerminalRedraw{100};
constexpr int kBarWidth = 20;

// "4s", "1m05s", "2h03m".
std::string duration_text(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const long s = std::lround(seconds);
  char buf[32];
  if (s < 60)
    std::snprintf(buf, sizeof buf, "%lds", s);
  else if (s < 3600)
    std::snprintf(buf, sizeof buf, "%ldm%02lds", s / 60, s % 60);
  else
    std::snprintf(buf, sizeof buf, "%ldh%02ldm", s / 3600, (s % 3600) / 60);
  return buf;
}

// All of `text` to stderr, or what it takes before an error (a closed stderr drops it).
void write_all(const std::string& text) noexcept {
  std::size_t off = 0;
  while (off < text.size()) {
    const ssize_t w = ::write(STDERR_FILENO, text.data() + off, text.size() - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    off += static_cast<std::size_t>(w);
  }
}
}  // namespace

ProgressBar::ProgressBar(std::size_t total, ProgressOptions options)
    : total_(total), options_(std::move(options)), tty_(::isatty(STDERR_FILENO) == 1) {
  if (options_.label.empty()) options_.label = "shmray";
  start_ = last_draw_ = std::chrono::steady_clock::now();
  if (tty_) draw(false);
}

ProgressBar::~ProgressBar() { close(); }

void ProgressBar::update(std::size_t n) noexcept {
  if (closed_) return;
  done_ = total_ - done_ < n ? total_ : done_ + n;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_draw_ >= (tty_ ? kTerminalRedraw : options_.interval)) draw(false);
}

void ProgressBar::close() noexcept {
  if (closed_) return;
  closed_ = true;
  draw(true);
}

void ProgressBar::draw(bool last) noexcept {
  try {
    const auto now = std::chrono::steady_clock::now();
    last_draw_ = now;
    const double elapsed = std::chrono::duration<double>(now - start_).count();
    const double rate = elapsed > 0 ? static_cast<double>(done_) / elapsed : 0;
    const int pct = total_ ? static_cast<int>(100 * done_ / total_) : 100;
    char counts[96];
    std::snprintf(counts, sizeof counts, "%zu/%zu", done_, total_);
    char rate_text[48];
    std::snprintf(rate_text, sizeof rate_text, "%.1f/s", rate);
    const std::string when =
        last ? duration_text(elapsed) + " elapsed"
             : "ETA " + (rate > 0 ? duration_text(static_cast<double>(total_ - done_) / rate) : "?");
    std::string line = options_.label + ": " + counts;
    if (tty_) {
      const int fill = total_ ? static_cast<int>(kBarWidth * done_ / total_) : kBarWidth;
      std::string bar(static_cast<std::size_t>(fill), '=');
      if (fill < kBarWidth) bar += '>';
      bar.resize(kBarWidth, ' ');
      char pct_text[8];
      std::snprintf(pct_text, sizeof pct_text, "%3d%%", pct);
      line = "\r" + line + " [" + bar + "] " + pct_text + " " + rate_text + " " + when + "\x1b[K" + (last ? "\n" : "");
    } else {
      line += " (" + std::to_string(pct) + "%), " + rate_text + ", " + when + "\n";
    }
    write_all(line);
  } catch (...) {
    // Out of memory for a progress line: skip it.
  }
}

}  // namespace shmray
