#pragma once
// The bytes of the shared segment. Every struct here lives in shared memory: standard
// layout, trivially copyable, no pointers (offsets from the segment base), sizes and field
// offsets pinned by static_asserts. Words another process changes concurrently are accessed
// only through std::atomic_ref (see atomics.hpp). layout.md draws the map; change both and
// bump kLayoutVersion together.
#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace shmray::shm {

inline constexpr std::uint64_t kMagic = 0x31'59'41'52'4d'48'53'00;  // "\0SHMRAY1"
/// Bump on any field added, moved, resized or re-meant.
// 2: hot words on their own page; 3: MessageHeader::flags kMessageMore, WorkerControl::kill_pending,
// TaskSlot::holds; 4: SegmentHeader::pool_slots (actor slots), kTaskActor, WorkerControl::more_control;
// 5: kTaskKillable; 6: WorkerControl::log_seq, log_label (the task's name in worker log lines),
// SegmentHeader::timeline_off/timeline_entries, TimelineRing (the task timeline);
// 7: SegmentHeader::completions_off (from the reserved words), CompletionRing after the idle sets.
inline constexpr std::uint32_t kLayoutVersion = 7;
inline constexpr std::size_t kCacheLine = 64;
inline constexpr std::size_t kPage = 4096;
inline constexpr std::size_t kSpanBytes = 64 * 1024;  ///< arena unit owned by one process
inline constexpr std::uint32_t kMaxWorkerSlots = 1024;

/// Futex-able 32-bit word on its own cache line.
struct alignas(kCacheLine) HotWord {
  std::uint32_t value;
  std::uint32_t aux;
};
static_assert(sizeof(HotWord) == kCacheLine);

struct SegmentHeader {
  std::uint64_t magic;                  // 0: never moves
  std::uint32_t layout_version;         // 8: never moves: any build can read it
  std::uint32_t header_bytes;           // 12: sizeof(SegmentHeader)
  std::uint64_t total_bytes;            // 16
  std::uint32_t session;                // 24: which init() made it (top byte of ObjectIds)
  std::uint32_t max_workers;            // 28: worker slots
  std::uint32_t num_workers;            // 32: CPU slots
  std::uint32_t task_capacity;          // 36
  std::uint32_t object_capacity;        // 40
  std::uint32_t dispatch_capacity;      // 44: power of two
  std::uint32_t span_count;             // 48
  std::uint32_t worker_block_bytes;     // 52
  std::uint64_t workers_off;            // 56: WorkerControl[max_workers] with their rings
  std::uint64_t exits_off;              // 64: zygote -> driver ring of ExitReport
  std::uint64_t dispatch_off;           // 72: DispatchRing
  std::uint64_t tasks_off;              // 80: TaskSlot[task_capacity]
  std::uint64_t objects_off;            // 88: ObjectSlot[object_capacity]
  std::uint64_t spans_off;              // 96: span words
  std::uint64_t arena_off;              // 104: span_count * kSpanBytes, 2 MiB aligned
  std::uint64_t arena_bytes;            // 112
  std::uint32_t event_ring_bytes;       // 120: per worker, power of two
  std::uint32_t control_ring_entries;   // 124: per worker, power of two
  std::int32_t driver_pid;              // 128
  std::int32_t zygote_pid;              // 132
  std::uint32_t exits_entries;          // 136: power of two
  std::uint32_t pool_slots;             // 140: slots [0, pool_slots) are the task pool's, the rest actors'
  std::uint64_t store_full_timeout_ns;  // 144
  std::uint64_t idle_off;               // 152: IdleSet words: spinning, then sleeping (own page)
  std::uint32_t idle_words;             // 160: 64-bit words per set: ceil(max_workers / 64)
  std::uint32_t reserved1;              // 164: zero
  std::uint64_t hot_off;                // 168: HotWords (own page, right after this one)
  std::uint64_t timeline_off;           // 176: TimelineRing per worker slot (own pages); 0 when off
  std::uint32_t timeline_entries;       // 184: records per ring, power of two; 0: the timeline is off
  std::uint32_t reserved2;              // 188: zero
  std::uint64_t completions_off;        // 192: CompletionRing + u64[kCompletionEntries] (own pages)
  std::uint32_t reserved[30];           // 200..319: zero, room to grow
  HotWord driver_flags;                 // 320: kFlag* below; written by the driver only
};
inline constexpr std::uint32_t kFlagBacklog = 1;  ///< driver holds tasks the table had no room for

static_assert(std::is_standard_layout_v<SegmentHeader> && std::is_trivially_copyable_v<SegmentHeader>);
static_assert(offsetof(SegmentHeader, magic) == 0 && offsetof(SegmentHeader, layout_version) == 8);
static_assert(offsetof(SegmentHeader, exits_entries) == 136 && offsetof(SegmentHeader, pool_slots) == 140);
static_assert(offsetof(SegmentHeader, store_full_timeout_ns) == 144 && offsetof(SegmentHeader, idle_off) == 152);
static_assert(offsetof(SegmentHeader, hot_off) == 168 && offsetof(SegmentHeader, driver_flags) == 320);
static_assert(offsetof(SegmentHeader, timeline_off) == 176 && offsetof(SegmentHeader, timeline_entries) == 184);
static_assert(offsetof(SegmentHeader, completions_off) == 192 && offsetof(SegmentHeader, reserved) == 200);
static_assert(sizeof(SegmentHeader) == 384 && sizeof(SegmentHeader) <= kPage);

/// The futex words every process writes, on their own page after the header: the header
/// page is read-only in workers (a stray write by a task kills only its own worker), these
/// stay writable. Nothing here is ever used as an offset or a size.
struct HotWords {
  HotWord doorbell;      // 0: driver wake-up futex; aux = driver sleeping
  HotWord object_epoch;  // 64: bumped when an object someone sleeps on becomes final
  HotWord arena_epoch;   // 128: bumped when store space is freed; aux = waiters
};
static_assert(std::is_standard_layout_v<HotWords> && std::is_trivially_copyable_v<HotWords>);
static_assert(sizeof(HotWords) == 3 * kCacheLine && offsetof(HotWords, arena_epoch) == 128 &&
              sizeof(HotWords) <= kPage);

/// Producer/consumer positions of a single-producer single-consumer ring; the data follows.
struct RingIndex {
  alignas(kCacheLine) std::uint64_t head;  // consumer's position; producer reads it (acquire)
  alignas(kCacheLine) std::uint64_t tail;  // producer's position; its release store publishes the data
};
static_assert(sizeof(RingIndex) == 2 * kCacheLine && offsetof(RingIndex, tail) == kCacheLine);

enum class WorkerState : std::uint32_t {
  kUnused = 0,    // slot never started
  kStarting = 1,  // forked, not yet ready
  kIdle = 2,      // looking for work (spinning)
  kSleeping = 3,  // idle, asleep on `wake`
  kRunning = 4,
  kBlocked = 5,  // in get/wait inside a task
  kDead = 6,
};

/// One per worker slot, followed in its block by the event ring (worker -> driver, bytes)
/// and the control ring (driver -> worker, uint64 entries).
struct WorkerControl {
  std::int32_t pid;             // 0: written by the worker once it runs
  std::uint32_t state;          // 4: WorkerState
  std::uint32_t wake;           // 8: futex word the worker sleeps on
  std::uint32_t incarnation;    // 12: bumped by the driver per (re)start of the slot
  std::uint32_t version_ack;    // 16: kLayoutVersion as the worker was built
  std::uint32_t depth;          // 20: tasks on its stack (inline execution nests)
  std::uint64_t tasks_run;      // 24
  std::uint64_t current_task;   // 32: TaskRef of the innermost task, 0 when none
  std::uint32_t wants_supply;   // 40: set by the worker while it waits for object/task slots
  std::uint32_t extra;          // 44: 1 for a worker started while others were blocked
  std::uint64_t bottom_task;    // 48: TaskRef of the outermost task on its stack, 0 when idle
  std::uint64_t spin_until_ns;  // 56: monotonic ns when its idle spin ends; later, a spinner is stopped or stalled
  RingIndex events;             // 64
  RingIndex control;            // 192
  std::uint64_t kill_pending;   // 320: TaskRef the driver is about to force-kill, 0 when none (cancel.cpp)
  std::uint32_t more_control;   // 328: 1 while the driver holds entries its control ring had no room for:
                                //      a worker that drained the ring rings the doorbell for them
  std::uint32_t log_seq;        // 332: seqlock over log_label, and whether a task runs (task_label.hpp)
  std::uint64_t log_label[6];   // 336: name of the task it runs or last ran, for "(pid=N, task=NAME) "
};
static_assert(std::is_standard_layout_v<WorkerControl> && std::is_trivially_copyable_v<WorkerControl>);
static_assert(sizeof(WorkerControl) == 384 && offsetof(WorkerControl, wants_supply) == 40 &&
              offsetof(WorkerControl, bottom_task) == 48 && offsetof(WorkerControl, spin_until_ns) == 56 &&
              offsetof(WorkerControl, kill_pending) == 320 && offsetof(WorkerControl, more_control) == 328 &&
              offsetof(WorkerControl, events) == 64 && offsetof(WorkerControl, log_seq) == 332 &&
              offsetof(WorkerControl, log_label) == 336);

/// Zygote -> driver: a worker process ended.
struct ExitReport {
  std::uint32_t slot;
  std::int32_t pid;     // the fork's errno when status says kExitForkFailed (wire/fork_protocol.hpp)
  std::int32_t status;  // as from waitpid
  std::uint32_t incarnation;
};
static_assert(sizeof(ExitReport) == 16 && std::is_trivially_copyable_v<ExitReport>);

enum class TaskState : std::uint8_t {
  kFree = 0,
  kWaiting = 1,    // in the table, arguments not ready
  kQueued = 2,     // claimable
  kClaimed = 3,    // a worker runs it (owner)
  kDone = 4,       // result published; the driver recycles the slot
  kCancelled = 5,  // removed before it ran
};
inline constexpr std::uint8_t kTaskCancelRequested = 1;   ///< in the task word's flags
inline constexpr std::uint32_t kTaskRetryExceptions = 1;  ///< in TaskSlot::task_flags
/// In TaskSlot::task_flags, set by the driver: the task is run again because a task running
/// inline above it crashed their worker; this run never runs other tasks inline.
inline constexpr std::uint32_t kTaskNoInline = 2;
/// In TaskSlot::task_flags: an actor's call (or its creation). Only that actor's process,
/// which the driver hands it to on its control ring, may claim it: never a pool worker,
/// never a task waiting for its result (it is not on the dispatch ring and is not run inline).
inline constexpr std::uint32_t kTaskActor = 4;
/// In TaskSlot::task_flags: the task has a TaskOptions::timeout. Only a worker's top-level run
/// may claim it, never a task waiting for its result (inline, the force cancel at its deadline
/// could not kill it without killing the waiter), unless that waiter waited for it in vain for
/// 2 s (max_workers reached: see inline_helper.cpp; its deadline then cancels it softly).
inline constexpr std::uint32_t kTaskKillable = 8;
/// Function index of a hold: a companion of a task with num_cpus = k > 1 (k - 1 of them are
/// queued right after it). A worker that claims one keeps its CPU until the main task's
/// result (`TaskSlot::parent` names the main task, `result` its result) is final.
inline constexpr std::uint32_t kHoldFunction = 0xffffffffu;

/// A task in the shared table. `state` packs [63:32] generation, [31:24] TaskState,
/// [23:8] owner (worker slot + 1), [7:0] flags; every transition is one CAS.
struct TaskSlot {
  std::uint64_t state;           // 0
  std::uint64_t result;          // 8: ObjectId of the result
  std::uint32_t function;        // 16: registry index
  std::uint32_t args_size;       // 20
  std::uint64_t args_off;        // 24: arena offset when the args did not fit inline, else 0
  std::uint32_t attempt;         // 32
  std::uint32_t num_cpus_centi;  // 36
  std::uint64_t parent;          // 40: TaskRef of the submitting task, 0 for the driver
  std::int32_t max_retries;      // 48: for retry_exceptions, which the worker does in place
  std::uint32_t task_flags;      // 52: kTaskRetryExceptions, kTaskNoInline, kTaskActor, kTaskKillable
  std::uint64_t holds;           // 56: num_cpus = k > 1: holds_word(gen, holds no worker claimed yet);
                                 //     an actor's task: its actor's worker slot + 1 (set by the driver)
  std::byte inline_args[192];    // 64
};
static_assert(std::is_standard_layout_v<TaskSlot> && std::is_trivially_copyable_v<TaskSlot>);
static_assert(sizeof(TaskSlot) == 256 && offsetof(TaskSlot, max_retries) == 48 &&
              offsetof(TaskSlot, inline_args) == 64);
static_assert(offsetof(TaskSlot, holds) == 56);
/// TaskSlot::holds: [63:32] the generation of the task it counts for, [31:0] (signed) its holds
/// not claimed yet. The task starts its body at <= 0. Little-endian: the low half, at offset
/// 56, is the futex word a waiting task sleeps on.
inline constexpr std::uint64_t holds_word(std::uint32_t gen, std::int32_t unclaimed) {
  return (std::uint64_t(gen) << 32) | std::uint32_t(unclaimed);
}

enum class ObjectState : std::uint8_t { kFree = 0, kPending = 1, kReady = 2, kFailed = 3 };
inline constexpr std::uint32_t kObjWaiters = 1;      ///< someone may sleep on object_epoch for it
inline constexpr std::uint32_t kObjDriverWatch = 2;  ///< the driver has tasks waiting for it

/// An object. `state` packs [31:8] generation, [7:4] ObjectState, [3:0] flags (futex-able).
/// Payloads up to 32 bytes live inline; larger ones in the arena at `data`.
struct ObjectSlot {
  std::uint32_t state;        // 0
  std::uint32_t refs;         // 4: total references; written by the driver only
  std::uint64_t producer;     // 8: TaskRef of the producing task, 0 for a put
  std::uint64_t data;         // 16: arena offset, 0 when inline
  std::uint64_t size;         // 24: payload bytes
  std::byte inline_data[32];  // 32
};
static_assert(std::is_standard_layout_v<ObjectSlot> && std::is_trivially_copyable_v<ObjectSlot>);
static_assert(sizeof(ObjectSlot) == 64 && offsetof(ObjectSlot, inline_data) == 32);
inline constexpr std::size_t kInlineBytes = sizeof(ObjectSlot::inline_data);

/// Span word: [63:48] owner (0 free, 1 driver, 2 + worker slot), [47:40] SpanKind,
/// [39:32] size class, [31:0] run length in spans (kLargeHead).
enum class SpanKind : std::uint8_t { kFree = 0, kSmall = 1, kLargeHead = 2, kLargeCont = 3 };
inline constexpr std::uint16_t kOwnerDriver = 1;
inline constexpr std::uint16_t owner_of_worker(std::uint32_t slot) { return std::uint16_t(slot + 2); }

/// The task timeline (Options::timeline): one ring per worker slot, written by that worker's
/// task thread only (single producer: inline runs happen on it too), read by the driver.
/// A full ring drops the new record and counts it in `dropped`; the worker never waits.
struct TimelineRing {
  alignas(kCacheLine) std::uint64_t head;  // 0: the driver's position (the worker reads it, acquire)
  alignas(kCacheLine) std::uint64_t tail;  // 64: the worker's; its release store publishes a record
  std::uint64_t dropped;                   // 72: records the worker dropped on a full ring
};
static_assert(sizeof(TimelineRing) == 2 * kCacheLine && offsetof(TimelineRing, tail) == kCacheLine &&
              offsetof(TimelineRing, dropped) == 72);

/// Completion ring (completion_ring.hpp): while some process watches completions (as_completed),
/// every writer that makes an object final appends (generation, slot index) to it, so a
/// watcher reads what finished since its last look instead of rescanning all its objects.
/// Multi-producer: `count` is the next position (fetch_add); the entry of position p is written
/// at p % kCompletionEntries, after it. `watchers` counts the processes' watches; a process
/// killed while it watched leaves it one too high (writers then note for nobody: a cost, no hang).
struct CompletionRing {
  alignas(kCacheLine) std::uint64_t count;     // 0: positions taken by writers
  alignas(kCacheLine) std::uint64_t watchers;  // 64: watches registered (no writer notes at 0)
  std::uint64_t reserved[7];                   // 72..127: zero
};
static_assert(std::is_standard_layout_v<CompletionRing> && std::is_trivially_copyable_v<CompletionRing>);
static_assert(sizeof(CompletionRing) == 2 * kCacheLine && offsetof(CompletionRing, watchers) == kCacheLine);
inline constexpr std::uint64_t kCompletionEntries = 4096;  ///< u64 entries after the CompletionRing

enum class TimelineKind : std::uint32_t {
  kStart = 1,   // a task attempt starts its run (aux: the worker's stack depth, 1 = outermost)
  kEnd = 2,     // it ended (aux: TimelineOutcome)
  kSubmit = 3,  // this worker's task thread submitted the task (aux 0): it may run inline before
                // the driver adopts it, so its submit time cannot come from the driver then
};
enum class TimelineOutcome : std::uint32_t {
  kOk = 0,
  kFailed = 1,   // the result is an error (the driver reads which from the result)
  kRetried = 2,  // it threw and runs again in place (retry_exceptions)
};
/// One record of a TimelineRing: CLOCK_MONOTONIC ns, the task and what happened.
struct TimelineRecord {
  std::uint64_t task_ref;  // 0: TaskRef of the task
  std::uint64_t ns;        // 8: CLOCK_MONOTONIC
  std::uint64_t value;     // 16: reserved (zero)
  std::uint32_t kind;      // 24: TimelineKind
  std::uint32_t aux;       // 28: see TimelineKind
};
static_assert(std::is_standard_layout_v<TimelineRecord> && std::is_trivially_copyable_v<TimelineRecord>);
static_assert(sizeof(TimelineRecord) == 32 && offsetof(TimelineRecord, kind) == 24);

/// Task reference used inside the segment: slot index + 1 in the low half, generation high.
inline constexpr std::uint64_t task_ref(std::uint32_t index, std::uint32_t gen) {
  return (std::uint64_t(gen) << 32) | (std::uint64_t(index) + 1);
}
inline constexpr std::uint32_t task_ref_index(std::uint64_t ref) { return std::uint32_t(ref) - 1; }
inline constexpr std::uint32_t task_ref_gen(std::uint64_t ref) { return std::uint32_t(ref >> 32); }

}  // namespace shmray::shm
