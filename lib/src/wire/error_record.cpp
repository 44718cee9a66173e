#include "wire/error_record.hpp"

#include <cxxabi.h>

#include <cereal/types/string.hpp>
#include <cereal/types/vector.hpp>

#include <algorithm>
#include <cstdlib>
#include <memory>

#include "shmray/detail/codec.hpp"
#include "shmray/errors.hpp"

namespace shmray::wire {

std::string demangle(const char* name) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> out(abi::__cxa_demangle(name, nullptr, nullptr, &status), std::free);
  return status == 0 && out ? std::string(out.get()) : std::string(name);
}

namespace {

template <class Base>
class Carried final : public Base, public RecordCarrier {
 public:
  template <class... A>
  Carried(const ErrorRecord& r, A&&... a) : Base(std::forward<A>(a)...), r_(r) {}
  const ErrorRecord& record() const noexcept override { return r_; }

 private:
  ErrorRecord r_;
};

std::string via_suffix(const std::vector<std::string>& via) {
  if (via.empty()) return {};
  std::string s = " (via ";
  for (std::size_t i = 0; i < via.size(); ++i) s += (i ? ", " : "") + via[i];
  return s + ")";
}

void cap(std::string& s, std::size_t n) {
  if (s.size() > n) s.resize(n);
}

}  // namespace

std::string encode(const ErrorRecord& r) {
  std::string out;
  detail::OutArchive ar(out);
  const std::uint8_t version = kErrorRecordVersion, kind = static_cast<std::uint8_t>(r.kind);
  ar(version, kind, r.type_name, r.message, r.function, r.pid, r.task_name, r.via);
  return out;
}

ErrorRecord decode_error(std::span<const std::byte> bytes) {
  detail::InArchive ar(bytes);
  ErrorRecord r;
  std::uint8_t version = 0, kind = 0;
  ar(version);
  if (version != kErrorRecordVersion) detail::throw_serialization_error("error record of an unknown version");
  ar(kind, r.type_name, r.message, r.function, r.pid, r.task_name, r.via);
  if (ar.remaining() != 0) detail::throw_serialization_error("error record has trailing bytes");
  r.kind = static_cast<ErrorKind>(kind);
  switch (r.kind) {
    case ErrorKind::kTaskError:
    case ErrorKind::kCancelled:
    case ErrorKind::kWorkerCrashed:
    case ErrorKind::kStoreFull:
    case ErrorKind::kSerialization:
    case ErrorKind::kPool:
    case ErrorKind::kTaskTableFull:
    case ErrorKind::kActorDied:
    case ErrorKind::kActorNotFound:
    case ErrorKind::kTimeout: return r;
  }
  detail::throw_serialization_error("error record of an unknown kind");
}

void throw_error(const ErrorRecord& r) {
  const std::string msg = r.message + via_suffix(r.via);
  switch (r.kind) {
    case ErrorKind::kTaskError:
      throw Carried<TaskError>(r, r.type_name, r.message, r.function, r.pid, r.task_name, r.via);
    case ErrorKind::kCancelled: throw Carried<TaskCancelledError>(r, msg);
    case ErrorKind::kTimeout: throw Carried<TaskTimeoutError>(r, msg);
    case ErrorKind::kWorkerCrashed: throw Carried<WorkerCrashedError>(r, msg);
    case ErrorKind::kStoreFull: throw Carried<ObjectStoreFullError>(r, msg);
    case ErrorKind::kSerialization: throw Carried<SerializationError>(r, msg);
    case ErrorKind::kPool: throw Carried<PoolError>(r, msg);
    case ErrorKind::kTaskTableFull: throw Carried<TaskTableFullError>(r, msg);
    case ErrorKind::kActorDied: throw Carried<ActorDiedError>(r, msg);
    case ErrorKind::kActorNotFound: throw Carried<ActorNotFoundError>(r, msg);
  }
  throw SerializationError("error record of an unknown kind");
}

std::string task_label(const std::string& function, const std::string& task_name) {
  if (task_name.empty() || task_name == function) return function;
  return task_name + " (" + function + ")";
}

void truncate_to(ErrorRecord& r, std::size_t budget) {
  constexpr std::size_t kText = 256, kVia = 16;
  cap(r.type_name, kText);
  cap(r.function, kText);
  cap(r.task_name, kText);
  if (r.via.size() > kVia) r.via.erase(r.via.begin() + kVia / 2, r.via.end() - kVia / 2);  // keep both ends
  for (std::string& v : r.via) cap(v, kText);
  std::string message = std::move(r.message);  // no copy of a huge message just to measure the rest
  r.message.clear();
  const std::size_t fixed = encode(r).size();
  r.message = std::move(message);
  const std::size_t original = r.message.size();
  const std::string marker = "... [truncated, " + std::to_string(original) + " bytes]";
  if (fixed + original <= budget) return;
  const std::size_t room = budget > fixed + marker.size() ? budget - fixed - marker.size() : 0;
  r.message.resize(std::min(room, original));
  r.message += marker;
}

std::string shrink_error_payload(std::span<const std::byte> payload, std::size_t budget) {
  ErrorRecord r;
  try {
    r = decode_error(payload);
  } catch (const SerializationError& e) {
    r = ErrorRecord{};
    r.kind = ErrorKind::kSerialization;
    r.message = e.what();
  }
  truncate_to(r, budget);
  return encode(r);
}

}  // namespace shmray::wire
