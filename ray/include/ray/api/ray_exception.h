#pragma once
/// @file ray_exception.h
/// The exceptions of Ray's C++ API, in Ray's namespace (ray::internal) and with Ray's names,
/// so `catch (ray::internal::RayTaskException&)` means the same on shmray and on Ray.
#include <exception>
#include <string>

namespace ray {
namespace internal {

/// Base of every error this layer throws.
class RayException : public std::exception {
 public:
  explicit RayException(const std::string& msg) : msg_(msg) {}
  const char* what() const noexcept override { return msg_.c_str(); }
  std::string msg_;
};

/// The remote function threw. what(): "An exception was thrown while executing
/// function(<name>): <C++ exception type>: <its what()>" (Ray's shape).
class RayTaskException : public RayException {
 public:
  using RayException::RayException;
};

/// The worker process died while it ran the task, and no retry was left.
class RayWorkerException : public RayException {
 public:
  using RayException::RayException;
};

/// ray::Task(f) for an f that no RAY_REMOTE registered.
class RayFunctionNotFound : public RayException {
 public:
  using RayException::RayException;
};

/// Get with a timeout ran out before the object was ready.
class RayTimeoutException : public RayException {
 public:
  using RayException::RayException;
};

/// A call on an actor that is gone: killed (handle.Kill()), its factory threw, or its
/// process died with no restart left (SetMaxRestarts).
class RayActorException : public RayException {
 public:
  using RayException::RayException;
};
/// Declared for source compatibility; shmray never throws them.
class UnreconstructableException : public RayException {
 public:
  using RayException::RayException;
};
class RayRuntimeEnvException : public RayException {
 public:
  using RayException::RayException;
};

}  // namespace internal
}  // namespace ray
