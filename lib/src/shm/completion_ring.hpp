#pragma once
// The completion ring (layout.hpp's CompletionRing): while a process watches completions, every
// writer that makes an object final appends (generation, slot index) to it after the object's
// word is final, and the watcher reads only what came since its cursor. Many writers, any
// number of readers; nobody waits on anybody: a writer killed between taking its position and
// writing its entry leaves that entry stale, and a reader that meets a stale or overwritten
// entry (or a count it cannot trust) gives up on the ring for that look and looks at all its
// objects once instead. So the ring is a shortcut that can only fail towards a full look.
#include <cstdint>

#include "shm/atomics.hpp"
#include "shm/layout.hpp"

namespace shmray::shm {

/// The entry of ring position `pos`: [63:56] its lap, ((pos / kCompletionEntries) + 1) & 0xff
/// (1 on the first lap, so a never-written, zero entry does not pass for a fresh one; a stale
/// entry carries the lap before); [55:32] the object's generation (24 bits); [31:0] its slot index.
inline constexpr std::uint64_t completion_entry(std::uint64_t pos, std::uint32_t gen, std::uint32_t index) noexcept {
  const std::uint64_t lap = ((pos / kCompletionEntries) + 1) & 0xff;
  return (lap << 56) | (std::uint64_t(gen & 0xffffff) << 32) | index;
}
inline constexpr std::uint32_t completion_lap(std::uint64_t pos) noexcept {
  return std::uint32_t(((pos / kCompletionEntries) + 1) & 0xff);
}

/// True when some process watches: a writer notes its completions only then. seq_cst, after the
/// writer's seq_cst CAS of the object word: with watch_completions' fence, either the writer
/// sees the watch or the watcher's first full look sees the object final.
inline bool completion_watched(CompletionRing& r) noexcept {
  return atom(r.watchers).load(std::memory_order_seq_cst) != 0;
}

/// Appends an entry for the object (`gen`, `index`) that was just made final.
inline void note_completion(CompletionRing& r, std::uint64_t* entries, std::uint32_t gen,
                            std::uint32_t index) noexcept {
  const std::uint64_t pos = atom(r.count).fetch_add(1, std::memory_order_seq_cst);
  store_release(entries[pos % kCompletionEntries], completion_entry(pos, gen, index));
}

/// Registers a watch. Take the cursor (completion_count) after it, then look at every object once.
inline void watch_completions(CompletionRing& r) noexcept {
  atom(r.watchers).fetch_add(1, std::memory_order_seq_cst);
  full_fence();
}

/// Ends a watch; never takes `watchers` below 0 (a scribbled word stays a cost, not a wrap).
inline void unwatch_completions(CompletionRing& r) noexcept {
  std::uint64_t w = load_acquire(r.watchers);
  while (w != 0 && !cas(r.watchers, w, w - 1)) {
  }
}

/// Positions taken so far (acquire: the object words of every completion before it are final).
inline std::uint64_t completion_count(CompletionRing& r) noexcept {
  return atom(r.count).load(std::memory_order_acquire);
}

/// Calls take(gen, index) for each entry from `cursor` to the count, in ring order, and moves
/// `cursor` to that count. False, cursor unchanged, when the ring cannot say what finished
/// (the reader must then look at all its objects once, with a cursor taken before that look):
/// more than a ring's worth came since the cursor (lapped), the count is behind the cursor
/// (scribbled), or an entry's lap does not match its position (its writer is not done, or was
/// killed before it wrote it, or it was overwritten meanwhile). Entries taken before a false
/// return are real completions; the caller checks each object's word anyway (a slot is reused).
template <class Take>
bool read_completions(CompletionRing& r, const std::uint64_t* entries, std::uint64_t& cursor, Take&& take) noexcept {
  const std::uint64_t count = completion_count(r);
  if (count < cursor || count - cursor > kCompletionEntries) return false;
  for (std::uint64_t pos = cursor; pos < count; ++pos) {
    const std::uint64_t e = load_acquire(const_cast<std::uint64_t&>(entries[pos % kCompletionEntries]));
    if (std::uint32_t(e >> 56) != completion_lap(pos)) return false;
    take(std::uint32_t(e >> 32) & 0xffffff, std::uint32_t(e));
  }
  // Writers kept going while we read: if they went a ring past our cursor, an entry we read
  // may be a later lap's (its lap byte matches once every 256 laps).
  const std::uint64_t after = completion_count(r);
  if (after < count || after - cursor > kCompletionEntries) return false;
  cursor = count;
  return true;
}

}  // namespace shmray::shm
