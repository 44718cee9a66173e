#include "shm/spans.hpp"

#include <algorithm>

namespace shmray::shm {

std::optional<std::uint32_t> SpanTable::claim_small(std::uint16_t owner, std::uint8_t size_class) noexcept {
  const std::uint64_t want = SpanWord{owner, SpanKind::kSmall, size_class, 1}.pack();
  for (std::uint32_t i = 0; i < count_; ++i) {
    std::uint64_t w = load_relaxed(words_[i]);
    if (w == 0 && cas(words_[i], w, want)) return i;
  }
  return std::nullopt;
}

std::optional<std::uint32_t> SpanTable::claim_run(std::uint16_t owner, std::uint32_t n) noexcept {
  if (n == 0 || n > count_) return std::nullopt;
  std::uint32_t start = 0;
  while (start + n <= count_) {
    // Find n spans that look free, then take them one CAS at a time, head first: a killed
    // claimer leaves a prefix that names it as owner, which adoption gives back.
    std::uint32_t len = 0;
    while (len < n && load_relaxed(words_[start + len]) == 0) ++len;
    if (len < n) {
      start += len + 1;
      continue;
    }
    std::uint32_t got = 0;
    for (; got < n; ++got) {
      std::uint64_t expect = 0;
      const std::uint64_t want = got == 0 ? SpanWord{owner, SpanKind::kLargeHead, 0, n}.pack()
                                          : SpanWord{owner, SpanKind::kLargeCont, 0, got}.pack();
      if (!cas(words_[start + got], expect, want)) break;
    }
    if (got == n) return start;
    for (std::uint32_t k = 0; k < got; ++k) release_span(start + k);  // lost a race: give back, look further
    start += got + 1;
  }
  return std::nullopt;
}

void SpanTable::release_run(std::uint32_t first) noexcept {
  if (first >= count_) return;
  const SpanWord head = word(first);
  // The run length is read from shared memory: a scribbled one must not reach past the table.
  const std::uint32_t n = head.kind == SpanKind::kLargeHead ? std::min(std::max(head.run, 1u), count_ - first) : 1;
  // Continuations first, head last: a scan never sees a free head with owned continuations.
  for (std::uint32_t k = n; k-- > 1;) release_span(first + k);
  release_span(first);
}

std::uint32_t SpanTable::spans_in_use() const noexcept {
  std::uint32_t n = 0;
  for (std::uint32_t i = 0; i < count_; ++i) n += load_relaxed(words_[i]) != 0;
  return n;
}

}  // namespace shmray::shm
