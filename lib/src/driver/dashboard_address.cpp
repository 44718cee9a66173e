// Dashboard addresses: "host:port", ":port", "port", "[v6]:port" (dashboard.hpp).
#include <charconv>

#include "driver/dashboard.hpp"

namespace shmray::driver {

bool parse_dashboard_address(const std::string& address, std::string& host, std::uint16_t& port, std::string& why) {
  std::string port_text = address;
  host = "127.0.0.1";  // no host given: loopback, never every interface
  if (!address.empty() && address.front() == '[') {
    const std::size_t close = address.find(']');
    if (close == std::string::npos || close + 1 >= address.size() || address[close + 1] != ':') {
      why = "an IPv6 host is written [addr]:port";
      return false;
    }
    host = address.substr(1, close - 1);
    port_text = address.substr(close + 2);
  } else if (const std::size_t colon = address.rfind(':'); colon != std::string::npos) {
    if (colon > 0) host = address.substr(0, colon);
    port_text = address.substr(colon + 1);
  }
  if (host == "localhost") host = "127.0.0.1";
  unsigned value = 0;
  const char* end = port_text.data() + port_text.size();
  const auto [p, ec] = std::from_chars(port_text.data(), end, value);
  if (port_text.empty() || ec != std::errc() || p != end || value > 65535) {
    why = "the port must be a number 0..65535 (0: a free one)";
    return false;
  }
  if (host.empty()) {
    why = "the host is empty";
    return false;
  }
  port = static_cast<std::uint16_t>(value);
  return true;
}

}  // namespace shmray::driver
