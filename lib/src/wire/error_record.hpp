#pragma once
// What a failed object holds: the kind of failure and, for a task that threw, the thrown
// type, its message, the function and the worker's pid. Stored with the bounds-checked
// archives; decoding a corrupt record gives SerializationError.
#include <cstdint>
#include <span>
#include <string>

namespace shmray::wire {

enum class ErrorKind : std::uint8_t {
  kTaskError = 1,
  kCancelled = 2,
  kWorkerCrashed = 3,
  kStoreFull = 4,
  kSerialization = 5,
  kPool = 6,  // PoolError: the pool could not run the task
  kTaskTableFull = 7,
};

struct ErrorRecord {
  ErrorKind kind = ErrorKind::kTaskError;
  std::string type_name;  // kTaskError: thrown type
  std::string message;    // what(), or the whole message for other kinds
  std::string function;
  std::int32_t pid = 0;

  template <class Archive>
  void serialize(Archive& ar) {
    std::uint8_t k = static_cast<std::uint8_t>(kind);
    ar(k, type_name, message, function, pid);
    kind = static_cast<ErrorKind>(k);
  }
};

std::string encode(const ErrorRecord& r);
/// Throws SerializationError for a corrupt record or an unknown kind.
ErrorRecord decode_error(std::span<const std::byte> bytes);
/// Throws the shmray::Error subclass the record stands for.
[[noreturn]] void throw_error(const ErrorRecord& r);

}  // namespace shmray::wire
