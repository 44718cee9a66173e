// Inside libshmray_ray: what backend.cpp and actors.cpp share to turn this layer's calls
// into shmray's (requests, resources, errors).
#pragma once
#include <ray/api/backend.h>

#include <cstdint>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "shmray/detail/runtime_api.hpp"
#include "shmray/errors.hpp"
#include "shmray/options.hpp"

namespace ray::internal::backend::bridge {

namespace sd = shmray::detail;

/// Ray's what() of a task's exception: the function's name, the C++ type, its what().
std::string RayTaskMessage(const shmray::TaskError& e);
/// The exception in flight, in Ray's types (ray_exception.h). Ray's own and std::
/// exceptions but std::invalid_argument (a misuse: RayException) pass unchanged.
[[noreturn]] void RethrowAsRay();
sd::Deadline DeadlineOf(int timeout_ms);
std::vector<sd::ObjectId> Ids(const std::vector<std::uint64_t>& raw);
/// `p` for shmray; `contained` holds the ids of the ActorHandles in it (the object keeps them).
sd::ValueSource SourceOf(const Payload& p, std::vector<sd::ObjectId>& contained);
/// "CPU" of Ray's resources (else `cpus`), as shmray's CPU slots; `lacking` says another
/// one (GPU, custom) was asked for. "memory" and "object_store_memory" this machine always has.
double CpusOf(const std::unordered_map<std::string, double>& resources, double cpus, bool& lacking);

/// A call's bytes as shmray's request (it holds the converted id lists it points into).
struct Request {
  std::vector<sd::ObjectId> resolve, contained;
  sd::SubmitRequest req;
  Request(std::uint32_t function, const CallArgs& args, const shmray::TaskOptions& options)
      : resolve(Ids(args.resolve)), contained(Ids(args.contained)) {
    req.function = function;
    req.args = std::as_bytes(std::span(args.args.data(), args.args.size()));
    req.resolve = resolve;
    req.contained = contained;
    req.options = &options;
  }
  Request(const Request&) = delete;  // req points into this object
  Request& operator=(const Request&) = delete;
};

}  // namespace ray::internal::backend::bridge
