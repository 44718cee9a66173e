#pragma once
// Process-local views of the segment's regions, built once per process, used by the driver
// and the workers alike.
#include <cstdint>
#include <span>

#include "shm/dispatch.hpp"
#include "shm/idle_set.hpp"
#include "shm/segment.hpp"
#include "shm/spans.hpp"
#include "shm/words.hpp"
#include "shmray/detail/object_id.hpp"

namespace shmray::common {

using detail::ObjectId;

/// How long past the end of its spin an idle worker still counts as spinning (it may be
/// between its last look at the queue and clearing its bit).
inline constexpr std::uint64_t kSpinGraceNs = 200'000;

struct Views {
  explicit Views(const shm::Segment& seg);

  shm::SegmentHeader geo;      // private copy of the geometry: never re-read from the segment
  shm::SegmentHeader* shared;  // the shared header: driver_flags only (read-only in workers)
  shm::HotWords* hot;          // futex words
  std::byte* base;
  shm::TaskSlot* tasks;
  shm::ObjectSlot* objects;
  shm::SpanTable spans;
  shm::DispatchQueue dispatch;
  shm::IdleSet spinning, sleeping;   // idle workers, by slot
  shm::CompletionRing* completions;  // completion_ring.hpp: what became final while someone watches
  std::uint64_t* completion_entries;
  std::uint32_t session;
  std::uint32_t object_capacity;
  std::uint32_t task_capacity;
  std::uint64_t arena_off, arena_end;

  shm::WorkerControl& worker(std::uint32_t slot) const noexcept {
    return *reinterpret_cast<shm::WorkerControl*>(base + geo.workers_off +
                                                  std::uint64_t(slot) * geo.worker_block_bytes);
  }
  /// Wakes one sleeping worker for newly queued work, unless an idle worker is spinning
  /// (it will take the work, warm). Call after publishing, with a full fence in between.
  /// A spinner past the end of its spin is stopped (SIGSTOP, a debugger, a frozen cgroup) or
  /// descheduled: it does not count, or one stalled process would keep every sleeper asleep.
  bool wake_one_idle() const noexcept {
    if (live_spinner()) return false;
    return sleeping.find([&](std::uint32_t slot) { return shm::wake_if_sleeping(worker(slot)); });
  }
  /// Some idle worker spins now and is within its spin time. Reads the clock only when a
  /// spinning bit is set (no syscall: vDSO).
  bool live_spinner() const noexcept;

  /// The slot of `id`, or nullptr for an id of another session or out of range.
  shm::ObjectSlot* slot(ObjectId id) const noexcept {
    if (id.session() != (session & 0xff) || id.index() >= object_capacity) return nullptr;
    return &objects[id.index()];
  }
  /// The slot of `id` when it names a live object (this session, in range, the slot's
  /// generation, not free), else nullptr. The one test the driver and the workers apply to
  /// an id they did not make themselves (a decoded ref, an id in a worker's message).
  shm::ObjectSlot* live(ObjectId id) const noexcept {
    shm::ObjectSlot* s = slot(id);
    if (!s) return nullptr;
    const shm::ObjectWord w = word(*s);
    return w.gen == id.gen() && !w.is(shm::ObjectState::kFree) ? s : nullptr;
  }
  shm::ObjectWord word(const shm::ObjectSlot& s) const noexcept {
    return shm::ObjectWord::unpack(shm::load_acquire(const_cast<std::uint32_t&>(s.state)));
  }
  /// Payload of a final object, checked against the arena bounds; empty span + false when
  /// the slot's fields are out of range (a corrupt slot).
  bool payload(const shm::ObjectSlot& s, std::span<const std::byte>& out) const noexcept;
  shm::TaskSlot& task(std::uint64_t task_ref) const noexcept { return tasks[shm::task_ref_index(task_ref)]; }
  bool valid_task_ref(std::uint64_t ref) const noexcept {
    return std::uint32_t(ref) != 0 && shm::task_ref_index(ref) < task_capacity;
  }
  /// The descriptor bytes of a task slot (inline, or in the arena), empty when its fields
  /// are out of bounds.
  std::span<const std::byte> descriptor(const shm::TaskSlot& t) const noexcept {
    if (t.args_off == 0 && t.args_size <= sizeof t.inline_args) return {t.inline_args, t.args_size};
    if (const std::byte* p = arena_bytes(t.args_off, t.args_size)) return {p, t.args_size};
    return {};
  }
  /// Arena bytes at `off` of length `n`, or nullptr when out of bounds.
  std::byte* arena_bytes(std::uint64_t off, std::uint64_t n) const noexcept {
    if (off < arena_off || off > arena_end || n > arena_end - off) return nullptr;
    return base + off;
  }
};

}  // namespace shmray::common
