#include "wire/error_record.hpp"

#include <cereal/types/string.hpp>

#include "shmray/detail/codec.hpp"
#include "shmray/errors.hpp"

namespace shmray::wire {

std::string encode(const ErrorRecord& r) {
  std::string out;
  detail::OutArchive ar(out);
  ar(const_cast<ErrorRecord&>(r));
  return out;
}

ErrorRecord decode_error(std::span<const std::byte> bytes) {
  detail::InArchive ar(bytes);
  ErrorRecord r;
  ar(r);
  if (ar.remaining() != 0) detail::throw_serialization_error("error record has trailing bytes");
  switch (r.kind) {
    case ErrorKind::kTaskError:
    case ErrorKind::kCancelled:
    case ErrorKind::kWorkerCrashed:
    case ErrorKind::kStoreFull:
    case ErrorKind::kSerialization:
    case ErrorKind::kPool:
    case ErrorKind::kTaskTableFull:
      return r;
  }
  detail::throw_serialization_error("error record of an unknown kind");
}

void throw_error(const ErrorRecord& r) {
  switch (r.kind) {
    case ErrorKind::kTaskError: throw TaskError(r.type_name, r.message, r.function, r.pid);
    case ErrorKind::kCancelled: throw TaskCancelledError(r.message);
    case ErrorKind::kWorkerCrashed: throw WorkerCrashedError(r.message);
    case ErrorKind::kStoreFull: throw ObjectStoreFullError(r.message);
    case ErrorKind::kSerialization: throw SerializationError(r.message);
    case ErrorKind::kPool: throw PoolError(r.message);
    case ErrorKind::kTaskTableFull: throw TaskTableFullError(r.message);
  }
  throw SerializationError("error record of an unknown kind");
}

}  // namespace shmray::wire
