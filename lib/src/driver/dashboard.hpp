#pragma once
// The live dashboard (Options::dashboard, SHMRAY_DASHBOARD): an HTTP server in the driver
// process on a thread of its own, serving one page (dashboard_page.cpp), /api/state,
// /api/tasks and /metrics (dashboard_render.cpp). It reads the pool's state the way
// observe.hpp does, without Driver::mu_, so no request, slow client or hostile one can hold
// up the driver: the server is asynchronous on one thread, every read and write has a
// deadline, and a request it cannot parse gets a 400. Built with Boost.Beast when meson
// finds it (dashboard_server.cpp), else dashboard_off.cpp refuses to start one.
#include <cstdint>
#include <memory>
#include <string>

#include "common/views.hpp"
#include "driver/counters.hpp"
#include "driver/object_table.hpp"
#include "driver/task_table.hpp"

namespace shmray::driver {

/// What the dashboard reads (all of it lock-free: see observe.hpp).
struct DashboardSource {
  const common::Views& views;
  const Counters& counters;
  const TaskTable& tasks;      // outside_relaxed() only
  const ObjectTable& objects;  // hwm_relaxed() only
};

class Dashboard {
 public:
  /// Listens on `address` ("host:port", ":port" or "port"; host an IP literal or localhost,
  /// default 127.0.0.1; port 0: a free one) and starts the server's thread. Throws Error
  /// naming the fix for a malformed address, one in use, or a build without the dashboard.
  static std::unique_ptr<Dashboard> start(const std::string& address, const DashboardSource& src);
  /// Stops the server and joins its thread (open connections are dropped).
  virtual ~Dashboard() = default;
  /// "http://127.0.0.1:8265/".
  virtual std::string url() const = 0;
  /// Whether it listens on an address other machines can reach (not loopback).
  virtual bool exposed() const = 0;
  /// In a child forked from the driver (atfork): closes the listening socket the child
  /// inherited, so the port is not held by it; the object is never used or destroyed there.
  virtual void forget_after_fork() noexcept = 0;
};

/// Host and port of a dashboard address; false (with `why`) for a malformed one.
bool parse_dashboard_address(const std::string& address, std::string& host, std::uint16_t& port, std::string& why);

}  // namespace shmray::driver
