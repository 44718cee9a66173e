#pragma once
/// @file log.hpp
/// shmray's own messages (the start-up line, warnings, crash reports) and where they go:
/// stderr, or a sink of the host program's (Options::log_sink).
#include <functional>
#include <string_view>

#include "shmray/detail/config.hpp"

namespace shmray {

/// How much a message of shmray's own matters.
enum class LogLevel {
  debug,    ///< details for whoever looks into shmray itself (none is sent today)
  info,     ///< the start-up line
  warning,  ///< something the program should know: a worker restarted, a retried crash, init() after threads
  error,    ///< something failed: a task lost to a worker crash, the pool broken
};

/// "debug", "info", "warning" or "error".
SHMRAY_API const char* to_string(LogLevel level) noexcept;

/// Receives each message of shmray's own, one line without its newline ("shmray: started 4
/// workers, 1.0 GiB object store"). See Options::log_sink.
using LogSink = std::function<void(LogLevel, std::string_view)>;

}  // namespace shmray
