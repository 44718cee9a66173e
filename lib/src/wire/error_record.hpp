#pragma once
// What a failed object holds: the kind of failure and, for a task that threw, the thrown
// type, its message, the function, the worker's pid, the task's name (TaskOptions::name,
// empty when none was given) and the tasks the failure passed through on its way (a task
// whose get() of a child threw, innermost first). Stored with the bounds-checked archives
// behind a version byte; decoding a corrupt record, or one of another version, gives
// SerializationError.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace shmray::wire {

/// Version 2 added task_name and via (version 1 had no version byte).
inline constexpr std::uint8_t kErrorRecordVersion = 2;

enum class ErrorKind : std::uint8_t {
  kTaskError = 1,
  kCancelled = 2,
  kWorkerCrashed = 3,
  kStoreFull = 4,
  kSerialization = 5,
  kPool = 6,  // PoolError: the pool could not run the task
  kTaskTableFull = 7,
  kActorDied = 8,      // ActorDiedError: the call's actor is gone
  kActorNotFound = 9,  // ActorNotFoundError: get_actor inside a task found no such actor
  kTimeout = 10,       // TaskTimeoutError: cancelled at its TaskOptions::timeout
};

struct ErrorRecord {
  ErrorKind kind = ErrorKind::kTaskError;
  std::string type_name;  // kTaskError: thrown type
  std::string message;    // what(), or the whole message for other kinds
  std::string function;
  std::int32_t pid = 0;
  std::string task_name;         // TaskOptions::name of the task that failed first; empty: none given
  std::vector<std::string> via;  // tasks the failure passed through (get of a child), innermost first
};

std::string encode(const ErrorRecord& r);
/// Throws SerializationError for a corrupt record, an unknown version or an unknown kind.
ErrorRecord decode_error(std::span<const std::byte> bytes);
/// Throws the shmray::Error subclass the record stands for. The exception also carries the
/// record (RecordCarrier), so a task that lets it escape fails with the same record.
[[noreturn]] void throw_error(const ErrorRecord& r);

/// Base of the exceptions throw_error throws: a worker catching one knows the whole record.
class RecordCarrier {
 public:
  virtual ~RecordCarrier() = default;
  virtual const ErrorRecord& record() const noexcept = 0;
};

/// A typeid name as C++ spells it ("N3foo3BarE" -> "foo::Bar"); the name itself when it is none.
std::string demangle(const char* name);

/// `name (function)` when a name was given (and differs from the function's), else `function`.
std::string task_label(const std::string& function, const std::string& task_name);

/// Shortens the message (and, a lot, the other texts) so the encoded record takes at most
/// about `budget` bytes; the message ends in "... [truncated, N bytes]" saying how long it was.
void truncate_to(ErrorRecord& r, std::size_t budget);

/// Bytes an error record is cut to when the whole one finds no room in the store.
inline constexpr std::size_t kShrunkErrorBytes = 4096;
/// The record in `payload` with its message cut (truncate_to) to about `budget` bytes; for
/// bytes that are no record, a kSerialization record saying so.
std::string shrink_error_payload(std::span<const std::byte> payload, std::size_t budget);

}  // namespace shmray::wire
