// A build without Boost.Beast (meson -Ddashboard=disabled, or no libboost-dev): asking for a
// dashboard is an error that says how to get one.
#include "driver/dashboard.hpp"
#include "shmray/errors.hpp"

namespace shmray::driver {

std::unique_ptr<Dashboard> Dashboard::start(const std::string& address, const DashboardSource&) {
  throw Error("shmray::init: a dashboard was asked for (\"" + address +
              "\", Options::dashboard or SHMRAY_DASHBOARD) but this shmray was built without it; rebuild with "
              "Boost.Beast (Debian: libboost-dev) and meson -Ddashboard=enabled, or unset the option");
}

}  // namespace shmray::driver
