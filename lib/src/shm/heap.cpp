#include "shm/heap.hpp"

#include <algorithm>

namespace shmray::shm {

std::uint8_t size_class_of(std::size_t bytes) noexcept {
  auto it = std::lower_bound(kSizeClasses.begin(), kSizeClasses.end(), bytes);
  return static_cast<std::uint8_t>(it - kSizeClasses.begin());
}

std::uint64_t Heap::allocate(std::size_t bytes) {
  if (bytes == 0) bytes = 1;
  if (bytes <= kMaxSmall) return allocate_small(size_class_of(bytes));
  const std::uint64_t n = bytes / kSpanBytes + (bytes % kSpanBytes != 0);  // (bytes + kSpanBytes - 1) could wrap
  if (n > spans_.count()) return 0;
  auto first = spans_.claim_run(owner_, static_cast<std::uint32_t>(n));
  if (!first) return 0;
  return spans_.offset_of(*first);
}

Heap::SpanInfo& Heap::start_span(std::uint32_t span, std::uint8_t cls) {
  SpanInfo& info = info_[span];
  info.size_class = cls;
  info.capacity = static_cast<std::uint16_t>(kSpanBytes / kSizeClasses[cls]);
  info.used = 0;
  info.free_blocks.clear();
  info.free_blocks.reserve(info.capacity);
  info.taken.assign(info.capacity, false);
  for (std::uint32_t b = info.capacity; b-- > 0;) info.free_blocks.push_back(static_cast<std::uint16_t>(b));
  info.partial_pos = -1;
  return info;
}

std::uint64_t Heap::allocate_small(std::uint8_t cls) {
  auto& partial = partial_[cls];
  if (partial.empty()) {
    auto span = spans_.claim_small(owner_, cls);
    if (!span) return 0;
    SpanInfo& fresh = start_span(*span, cls);
    add_partial(*span, fresh);
    ++empty_spans_[cls];
  }
  const std::uint32_t span = partial.back();
  SpanInfo& info = info_[span];
  const std::uint16_t block = info.free_blocks.back();
  info.free_blocks.pop_back();
  info.taken[block] = true;
  if (info.used++ == 0) --empty_spans_[cls];
  if (info.free_blocks.empty()) remove_partial(info);
  return spans_.offset_of(span) + std::uint64_t(block) * kSizeClasses[cls];
}

void Heap::add_partial(std::uint32_t span, SpanInfo& info) {
  auto& partial = partial_[info.size_class];
  info.partial_pos = static_cast<std::int32_t>(partial.size());
  partial.push_back(span);
}

void Heap::remove_partial(SpanInfo& info) {
  auto& partial = partial_[info.size_class];
  const auto pos = static_cast<std::size_t>(info.partial_pos);
  if (pos + 1 != partial.size()) {
    partial[pos] = partial.back();
    info_[partial[pos]].partial_pos = static_cast<std::int32_t>(pos);
  }
  partial.pop_back();
  info.partial_pos = -1;
}

bool Heap::free(std::uint64_t offset) {
  const std::uint32_t span = spans_.span_of(offset);
  if (span >= spans_.count()) return false;
  const SpanWord w = spans_.word(span);
  if (w.kind == SpanKind::kLargeHead) {
    spans_.release_run(span);
    return true;
  }
  auto it = info_.find(span);
  if (w.kind != SpanKind::kSmall || it == info_.end()) return false;  // not ours: a bug elsewhere, never corrupt
  SpanInfo& info = it->second;
  // Only the start of a block that is out now: a stale, doubled or forged offset (a worker
  // writes the args_off the driver frees) would otherwise list a block free twice, and it
  // would be handed to two owners at once.
  const std::uint64_t within = offset - spans_.offset_of(span), cls_bytes = kSizeClasses[info.size_class];
  const std::uint32_t block = static_cast<std::uint32_t>(within / cls_bytes);
  if (within % cls_bytes != 0 || block >= info.capacity || !info.taken[block]) return false;
  info.taken[block] = false;
  info.free_blocks.push_back(static_cast<std::uint16_t>(block));
  if (info.partial_pos < 0) add_partial(span, info);
  if (--info.used == 0) {
    // Keep one empty span per class for the next burst; give further ones back to the arena.
    if (empty_spans_[info.size_class] >= 1) {
      remove_partial(info);
      info_.erase(it);
      spans_.release_span(span);
      return true;
    }
    ++empty_spans_[info.size_class];
  }
  return false;
}

void Heap::adopt_owner(std::uint16_t dead, const std::vector<std::uint64_t>& live) {
  // Live offsets grouped by span (sorted, so each span's are contiguous).
  std::vector<std::uint64_t> sorted(live);
  std::sort(sorted.begin(), sorted.end());
  auto live_in = [&](std::uint32_t span) {
    const std::uint64_t lo = spans_.offset_of(span), hi = lo + kSpanBytes;
    auto a = std::lower_bound(sorted.begin(), sorted.end(), lo);
    auto b = std::lower_bound(a, sorted.end(), hi);
    return std::vector<std::uint64_t>(a, b);
  };
  for (std::uint32_t span = 0; span < spans_.count(); ++span) {
    const SpanWord w = spans_.word(span);
    if (w.owner != dead) continue;
    if (w.kind == SpanKind::kSmall) {
      adopt_small(span, w, live_in(span));
    } else if (w.kind == SpanKind::kLargeHead) {
      // Continuations the dead claimer got to: the ones right after the head naming it.
      std::uint32_t n = 1;
      while (n < w.run && span + n < spans_.count()) {
        const SpanWord c = spans_.word(span + n);
        if (c.owner != dead || c.kind != SpanKind::kLargeCont || c.run != n) break;
        ++n;
      }
      const bool keep = n == w.run && std::binary_search(sorted.begin(), sorted.end(), spans_.offset_of(span));
      for (std::uint32_t k = n; k-- > 0;) {
        if (keep) {
          SpanWord mine = spans_.word(span + k);
          SpanWord was = mine;
          mine.owner = owner_;
          spans_.transfer(span + k, was, mine);
        } else {
          spans_.release_span(span + k);
        }
      }
      span += n - 1;
    } else {
      spans_.release_span(span);  // a continuation without its head: a claim cut short
    }
  }
}

void Heap::adopt_small(std::uint32_t span, SpanWord w, const std::vector<std::uint64_t>& live) {
  if (live.empty()) {
    spans_.release_span(span);
    return;
  }
  SpanWord mine = w;
  mine.owner = owner_;
  spans_.transfer(span, w, mine);
  SpanInfo& info = start_span(span, w.size_class);
  const std::uint32_t cls_bytes = kSizeClasses[w.size_class];
  std::vector<char> taken(info.capacity, 0);
  for (std::uint64_t off : live) {
    const std::uint64_t b = (off - spans_.offset_of(span)) / cls_bytes;
    if (b < info.capacity && !taken[b]) {
      taken[b] = 1;
      info.taken[b] = true;
      ++info.used;
    }
  }
  info.free_blocks.clear();
  for (std::uint32_t b = info.capacity; b-- > 0;)
    if (!taken[b]) info.free_blocks.push_back(static_cast<std::uint16_t>(b));
  if (!info.free_blocks.empty()) add_partial(span, info);
}

std::size_t Heap::block_size(std::uint64_t offset) const noexcept {
  const std::uint32_t span = spans_.span_of(offset);
  if (span >= spans_.count()) return 0;
  const SpanWord w = spans_.word(span);
  if (w.kind == SpanKind::kLargeHead) return std::size_t(w.run) * kSpanBytes;
  if (w.kind == SpanKind::kSmall) return kSizeClasses[w.size_class];
  return 0;
}

}  // namespace shmray::shm
