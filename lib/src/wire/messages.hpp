#pragma once
// Records on a worker's event ring (worker -> driver). Fixed little structs followed by an
// array of ids; the driver reads them as untrusted bytes (read_front and read_ids check every length).
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <type_traits>

namespace shmray::wire {

enum class MsgType : std::uint16_t {
  kTaskDone = 1,  // TaskDone + contained ids
  kHold = 2,      // ids the worker took a reference to
  kRelease = 3,   // ids the worker dropped
  kSubmit = 4,    // nested submission (SubmitHeader + ids + args)
  kPut = 5,       // PutHeader + contained ids: an object the worker stored
  kBlocked = 6,   // the worker waits inside a task (gives its CPU slot back)
  kUnblocked = 7,
  kCancel = 8,        // CancelRequest: cancel() called inside a task
  kActorCall = 9,     // ActorCallHeader + ids + name: a method call written into supplied slots (kWaiting)
  kActorCreate = 10,  // ActorCreateHeader + ids + task name + actor name: an actor's creation, likewise
  kActorLookup = 11,  // ActorLookup + name + class: get_actor inside a task; the answer goes into `reply`
  kActorKill = 12,    // ActorKill: kill() inside a task
};

struct CancelRequest {
  std::uint64_t object;  // ObjectId value of the task's result
  std::uint32_t force;
  std::uint32_t recursive;
};
static_assert(sizeof(CancelRequest) == 16);

struct TaskDone {
  std::uint64_t task_ref;
  std::uint64_t result;     // ObjectId value
  std::uint32_t contained;  // ids that follow
  std::uint32_t failed;     // 1 when the result is an error record
};
static_assert(sizeof(TaskDone) == 24 && std::is_trivially_copyable_v<TaskDone>);

struct PutHeader {
  std::uint64_t object;     // ObjectId value
  std::uint32_t contained;  // ids that follow
  std::uint32_t reserved;
};
static_assert(sizeof(PutHeader) == 16);

/// A task submitted inside a task. The worker has already written the task slot (descriptor
/// included) and set it kQueued (all args final) or kWaiting; the driver takes it over.
/// Followed by `resolve` ids, `contained` ids, and `name_size` bytes of TaskOptions::name.
struct SubmitHeader {
  std::uint64_t task_ref;
  std::uint64_t result;  // ObjectId value (a slot the driver supplied)
  std::uint64_t parent;  // TaskRef of the submitting task
  std::uint32_t resolve;
  std::uint32_t contained;
  std::int32_t max_retries;
  std::uint32_t cpus;
  std::uint32_t retry_exceptions;
  std::uint32_t name_size;
  std::uint64_t deadline_ns;  // TaskOptions::timeout as a time on shm::now_ns()'s clock; 0: none
  std::uint64_t submit_ns;    // shm::now_ns() at the submit (the timeline's, the latency's start)
};
static_assert(sizeof(SubmitHeader) == 64);

/// A method call submitted inside a task: a SubmitHeader's task, for actor `actor` (the id
/// of its creation result, which the worker holds). Followed as kSubmit is.
struct ActorCallHeader {
  SubmitHeader task;
  std::uint64_t actor;
};
static_assert(sizeof(ActorCallHeader) == 72);

/// An actor created inside a task: its creation task (the factory's call; `task.result` is
/// the actor's id) and options. Followed as kSubmit is, then `actor_name_size` name bytes.
struct ActorCreateHeader {
  SubmitHeader task;
  std::int32_t max_restarts;
  std::int32_t max_task_retries;
  std::uint32_t cpus;  // CPU slots of the pool it holds
  std::uint32_t detached;
  std::uint32_t actor_name_size;
  std::uint32_t reserved;
};
static_assert(sizeof(ActorCreateHeader) == 88);

/// get_actor inside a task: `reply` is a supplied object slot the driver makes final, ready
/// with the actor's id (and holding a reference to it) or failed with ActorNotFoundError.
/// Followed by the name, then the class's typeid name.
struct ActorLookup {
  std::uint64_t reply;
  std::uint32_t name_size;
  std::uint32_t class_size;
};
static_assert(sizeof(ActorLookup) == 16);

struct ActorKill {
  std::uint64_t actor;
  std::uint32_t no_restart;
  std::uint32_t reserved;
};
static_assert(sizeof(ActorKill) == 16);

/// Reads a T at the front of `bytes`; nullopt when too short.
template <class T>
std::optional<T> read_front(std::span<const std::byte>& bytes) {
  static_assert(std::is_trivially_copyable_v<T>);
  if (bytes.size() < sizeof(T)) return std::nullopt;
  T v;
  std::memcpy(&v, bytes.data(), sizeof v);
  bytes = bytes.subspan(sizeof v);
  return v;
}

/// Reads `n` uint64 ids at the front of `bytes` into `out` (cleared); false when too short.
template <class Vec>
bool read_ids(std::span<const std::byte>& bytes, std::uint64_t n, Vec& out) {
  out.clear();
  if (n > bytes.size() / 8) return false;
  out.resize(n);
  for (std::uint64_t i = 0; i < n; ++i) {
    std::uint64_t v;
    std::memcpy(&v, bytes.data() + 8 * i, 8);
    out[i] = typename Vec::value_type{v};
  }
  bytes = bytes.subspan(8 * n);
  return true;
}

}  // namespace shmray::wire
