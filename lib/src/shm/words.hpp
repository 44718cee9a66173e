#pragma once
// Packing of the state words of task and object slots. A word is read once, decoded, and
// replaced by one CAS, so a process killed at any instruction leaves either the old or the
// new word, never a mix.
#include <cstdint>

#include "shm/atomics.hpp"
#include "shm/layout.hpp"

namespace shmray::shm {

struct TaskWord {
  std::uint32_t gen = 0;
  TaskState state = TaskState::kFree;
  std::uint16_t owner = 0;  // worker slot + 1, 0 when none
  std::uint8_t flags = 0;

  static TaskWord unpack(std::uint64_t w) {
    return {std::uint32_t(w >> 32), TaskState(std::uint8_t(w >> 24)), std::uint16_t(w >> 8), std::uint8_t(w)};
  }
  std::uint64_t pack() const {
    return (std::uint64_t(gen) << 32) | (std::uint64_t(state) << 24) | (std::uint64_t(owner) << 8) | flags;
  }
};

inline constexpr std::uint32_t kObjFlagMask = 0xf;
/// Payload being written by whoever won the CAS out of kPending (a worker's result, or the
/// driver's error on cancel/crash). Not final; see layout.md for the crash repair.
inline constexpr std::uint8_t kObjWriting = 4;

struct ObjectWord {
  std::uint32_t gen = 0;   // 24 bits
  std::uint8_t state = 0;  // ObjectState or kObjWriting
  std::uint32_t flags = 0;

  static ObjectWord unpack(std::uint32_t w) { return {w >> 8, std::uint8_t((w >> 4) & 0xf), w & kObjFlagMask}; }
  std::uint32_t pack() const { return (gen << 8) | (std::uint32_t(state & 0xf) << 4) | (flags & kObjFlagMask); }
  bool is(ObjectState s) const { return state == std::uint8_t(s); }
  bool final() const { return is(ObjectState::kReady) || is(ObjectState::kFailed); }
  bool open() const { return is(ObjectState::kPending) || state == kObjWriting; }
};

/// Claims a queued task for `owner` (worker slot + 1). False when it is no longer queued
/// under that generation (someone else took it, or it was cancelled).
inline bool try_claim_task(TaskSlot& t, std::uint32_t gen, std::uint16_t owner) noexcept {
  std::uint64_t w = load_acquire(t.state);
  for (;;) {
    TaskWord tw = TaskWord::unpack(w);
    if (tw.gen != gen || tw.state != TaskState::kQueued) return false;
    tw.state = TaskState::kClaimed;
    tw.owner = owner;
    if (cas(t.state, w, tw.pack())) return true;  // acquire: the descriptor written before kQueued
  }
}

/// Sets `flag` on an object that is not final yet; false when it already is (or the
/// generation moved on).
inline bool set_object_flag(ObjectSlot& o, std::uint32_t gen, std::uint32_t flag) noexcept {
  std::uint32_t w = load_acquire(o.state);
  for (;;) {
    ObjectWord ow = ObjectWord::unpack(w);
    if (ow.gen != (gen & 0xffffff) || !ow.open()) return false;
    if (ow.flags & flag) return true;
    ow.flags |= flag;
    if (cas(o.state, w, ow.pack())) return true;
  }
}

/// Moves an object from kPending to kObjWriting, making the caller the only writer of its
/// payload fields. False when it is not pending (final already, or someone else writes).
inline bool begin_object_write(ObjectSlot& o, std::uint32_t gen) noexcept {
  std::uint32_t w = load_acquire(o.state);
  for (;;) {
    ObjectWord ow = ObjectWord::unpack(w);
    if (ow.gen != (gen & 0xffffff) || !ow.is(ObjectState::kPending)) return false;
    ow.state = kObjWriting;
    if (cas(o.state, w, ow.pack())) return true;
  }
}

/// Publishes the payload written after begin_object_write; returns the word it replaced: its
/// generation names the object, its flags say who to tell (kObjWaiters: wake object_epoch;
/// kObjDriverWatch: ring the driver).
inline ObjectWord finish_object_write(ObjectSlot& o, ObjectState final_state) noexcept {
  std::uint32_t w = load_relaxed(o.state);
  for (;;) {
    ObjectWord ow = ObjectWord::unpack(w);
    ObjectWord next{ow.gen, std::uint8_t(final_state), 0};
    // release: the payload fields are visible to whoever sees the final state. seq_cst: the
    // writer's load of the completion ring's watchers comes after it (completion_ring.hpp).
    if (atom(o.state).compare_exchange_weak(w, next.pack(), std::memory_order_seq_cst, std::memory_order_relaxed))
      return ow;
  }
}

/// Wakes `w` if it sleeps idle (one CAS decides who wakes it, so a sleeper is woken once).
/// Returns whether it did.
bool wake_if_sleeping(WorkerControl& w) noexcept;

}  // namespace shmray::shm
