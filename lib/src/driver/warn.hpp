#pragma once
#include <string>

#include "shmray/log.hpp"

namespace shmray::driver {

/// One message of shmray's own (a line, without its newline): to the sink of
/// Options::log_sink when the driver has one (log.cpp), else to stderr (write_stderr).
/// Never throws; in any other process (a worker, a fork of the host) it goes to stderr.
void log(LogLevel level, const std::string& line) noexcept;
/// log(LogLevel::warning, line).
void warn(const std::string& line) noexcept;

/// Writes `line` and a newline to the host's stderr at once or not at all: never blocks (a
/// stderr nobody drains) and never raises SIGPIPE (one whose reader is gone).
void write_stderr(const std::string& line) noexcept;

/// init(): the sink for this process's messages from now on (empty: stderr); shutdown()
/// drops it. Throws only std::bad_alloc.
void set_log_sink(LogSink sink);

}  // namespace shmray::driver
