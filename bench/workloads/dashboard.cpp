// tasks_async_per_s_dashboard (ours): what the dashboard costs the pool. Alternating fresh
// pools of --workers workers, one without the dashboard and one with it and a client that
// fetches /api/state and /metrics every 200 ms (an open browser tab and a Prometheus
// scrape), each measured as tasks_async_per_s is; the figure is the rate with the dashboard
// on, and extra holds the off rates, both medians and their ratio.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>

#include "common.hpp"

namespace bench {

namespace {
// One GET on a fresh connection, reading until the server closes it.
void fetch(std::uint16_t port, const char* target) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    const std::string req = std::string("GET ") + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    (void)!::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
    char buf[65536];
    while (::recv(fd, buf, sizeof buf, 0) > 0) {
    }
  }
  if (fd >= 0) ::close(fd);
}

double async_rate(const Context& c, int reps) {
  submit_then_get(c.p.async_warmup_n);
  std::vector<double> v;
  for (int i = 0; i < reps; ++i) v.push_back(double(c.p.async_n) / submit_then_get(c.p.async_n));
  return median(v);
}
}  // namespace

Result tasks_async_per_s_dashboard(const Context& c) {
  const int rounds = c.p.warmup ? 7 : 3, reps = 10;  // 10 x 20k tasks: about 0.5 s with the dashboard polled
  std::vector<double> on, off;
  for (int k = 0; k < rounds; ++k) {
    {
      shmray::init(pool_options(c.workers, c.store_bytes));
      off.push_back(async_rate(c, reps));
      shmray::shutdown();
    }
    shmray::Options o = pool_options(c.workers, c.store_bytes);
    o.dashboard = "127.0.0.1:0";
    shmray::init(o);
    const std::string url = shmray::stats().dashboard_url;
    const auto port = static_cast<std::uint16_t>(std::stoi(url.substr(url.rfind(':') + 1)));
    std::atomic<bool> stop{false};
    std::thread client([&] {
      while (!stop.load()) {
        fetch(port, "/api/state");
        fetch(port, "/metrics");
        for (int i = 0; i < 20 && !stop.load(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    });
    on.push_back(async_rate(c, reps));
    stop = true;
    client.join();
    shmray::shutdown();
  }
  Result r = Result::ok(on);
  r.extra.set("off_values", Json(Json::Array(off.begin(), off.end())));
  r.extra.set("off_median", median(off));
  r.extra.set("on_median", median(on));
  r.extra.set("on_over_off", median(on) / median(off));
  r.extra.set("n", c.p.async_n);
  r.note =
      "tasks_async_per_s with the dashboard on (polled every 200 ms) in fresh pools alternating with pools "
      "without it; extra.off_median is the rate without";
  return r;
}

}  // namespace bench
