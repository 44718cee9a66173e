#pragma once
/// @file errors.hpp
/// Every error the library throws derives from shmray::Error (a std::runtime_error).
#include <stdexcept>
#include <string>
#include <vector>
#include "shmray/detail/config.hpp"

namespace shmray {

/// Base of every error shmray throws.
class SHMRAY_API Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// `get` with a timeout ran out before the object was ready.
class SHMRAY_API GetTimeoutError : public Error {
 public:
  using Error::Error;
};

/// The remote function threw. `what()` reads like `slow_square raised std::logic_error: boom`;
/// with a TaskOptions::name, `sq (slow_square) raised std::logic_error: boom`. An error that
/// reached you through tasks that get() a failed child keeps the original thrower and lists
/// them: `bar raised std::domain_error: boom (via foo)`.
class SHMRAY_API TaskError : public Error {
 public:
  ///@{
  /// The error from its parts (the accessors below); what() is made from them as above.
  TaskError(std::string type_name, std::string message, std::string function, int pid);
  TaskError(std::string type_name, std::string message, std::string function, int pid, std::string task_name,
            std::vector<std::string> via);
  ///@}
  /// Demangled type of what the task threw (`std::logic_error`, `int`, ...).
  const std::string& type_name() const noexcept { return type_name_; }
  /// `what()` of the thrown exception, empty when it was not a std::exception.
  const std::string& message() const noexcept { return message_; }
  /// Registered name of the remote function that threw.
  const std::string& function() const noexcept { return function_; }
  /// Process id of the worker it ran in.
  int pid() const noexcept { return pid_; }
  /// The TaskOptions::name of the task that threw, or function() when none was given.
  const std::string& task_name() const noexcept { return task_name_.empty() ? function_ : task_name_; }
  /// Tasks the error passed through on its way here (each failed because its get() of a
  /// child threw this error), innermost first; empty when it comes straight from the thrower
  /// (or through argument dependencies, whose tasks never ran).
  const std::vector<std::string>& via() const noexcept { return via_; }

 private:
  std::string type_name_, message_, function_;
  int pid_;
  std::string task_name_;
  std::vector<std::string> via_;
};

/// The task (or one it depended on) was cancelled.
class SHMRAY_API TaskCancelledError : public Error {
 public:
  using Error::Error;
};

/// The task (or one it depended on) did not finish within its TaskOptions::timeout and was
/// cancelled with force. A TaskCancelledError, so code that handles cancellation handles it.
class SHMRAY_API TaskTimeoutError : public TaskCancelledError {
 public:
  using TaskCancelledError::TaskCancelledError;
};

/// The worker process died running the task and no retry was left.
class SHMRAY_API WorkerCrashedError : public Error {
 public:
  using Error::Error;
};

/// A value could not be stored, even after waiting for space.
class SHMRAY_API ObjectStoreFullError : public Error {
 public:
  using Error::Error;
};

/// A task could not be submitted inside a task: the task table had no free slot for
/// `Options::store_full_timeout` (a chain of nested tasks deeper than the table, or more
/// tasks in flight than it holds).
class SHMRAY_API TaskTableFullError : public Error {
 public:
  using Error::Error;
};

/// A call on an actor that is gone: killed, stopped, its factory threw, or its process died
/// with no restart left (max_restarts); also a call that was running when the actor died
/// and had no retry left (max_task_retries). The message says which.
class SHMRAY_API ActorDiedError : public Error {
 public:
  using Error::Error;
};

/// `get_actor(name)` found no live actor of that name (or one of another class).
class SHMRAY_API ActorNotFoundError : public Error {
 public:
  using Error::Error;
};

/// `task(f)` for an `f` without `SHMRAY_REMOTE(f)`.
class SHMRAY_API UnregisteredFunctionError : public Error {
 public:
  using Error::Error;
};

/// An API call was made before `init()` (or after `shutdown()`).
class SHMRAY_API NotInitializedError : public Error {
 public:
  using Error::Error;
};

/// An API call in a process forked from one that runs a pool (the host after `init()`, or a
/// task's process): the child owns no pool. Use the API in the parent, or exec in the child
/// (a child of the host may also `init()` a pool of its own).
class SHMRAY_API ForkedProcessError : public NotInitializedError {
 public:
  using NotInitializedError::NotInitializedError;
};

/// `init()` was called while the runtime was running.
class SHMRAY_API AlreadyInitializedError : public Error {
 public:
  using Error::Error;
};

/// A value could not be serialized or deserialized (also: a corrupt or truncated record).
class SHMRAY_API SerializationError : public Error {
 public:
  using Error::Error;
};

/// The worker pool cannot run tasks: worker processes could not be started (`fork` failed,
/// e.g. under a pids limit: the message names the errno), or the fork server that starts
/// them kept dying. Pending tasks fail with it, and so do later submissions; `shutdown()`
/// and `init()` again start a fresh pool.
class SHMRAY_API PoolError : public Error {
 public:
  using Error::Error;
};

}  // namespace shmray
