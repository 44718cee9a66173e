// The dashboard's HTTP side: /api/state and /metrics parse strictly and carry the numbers of
// a known workload; /api/tasks lists running tasks; malformed or hostile requests get a 4xx;
// a slow client never holds up tasks; bad addresses and ports in use fail init() with the
// fix; shutdown stops the server; neither a forked child nor any worker holds its socket.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <shmray/shmray.hpp>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "api/gate.hpp"
#include "observe/http_check.hpp"
#include "support/leak_check.hpp"

using namespace std::chrono_literals;
using shmray_test::http_get;
using shmray_test::http_raw;

namespace {

int cube(int x) { return x * x * x; }
SHMRAY_REMOTE(cube);

int fails(int) { throw std::runtime_error("no"); }
SHMRAY_REMOTE(fails);

int held(std::string gate) {
  shmray_test::wait_for_gate(gate);
  return 0;
}
SHMRAY_REMOTE(held);

std::uint16_t start_with_dashboard(unsigned workers = 2) {
  shmray::init({.num_workers = workers, .quiet = true, .dashboard = "127.0.0.1:0"});
  const std::string url = shmray::stats().dashboard_url;
  REQUIRE(url.rfind("http://127.0.0.1:", 0) == 0);
  return shmray_test::port_of(url);
}

double metric(const std::vector<shmray_test::Metric>& ms, const std::string& name,
              const std::map<std::string, std::string>& labels) {
  for (const auto& m : ms)
    if (m.name == name && m.labels == labels) return m.value;
  FAIL("no sample " << name);
  return -1;
}

// Inodes of the sockets listening on `port` (IPv4), from /proc/net/tcp.
std::vector<std::string> listening_inodes(std::uint16_t port) {
  std::ifstream f("/proc/net/tcp");
  std::string line;
  std::vector<std::string> out;
  std::getline(f, line);
  char want[8];
  std::snprintf(want, sizeof want, ":%04X", port);
  while (std::getline(f, line)) {
    std::istringstream in(line);
    std::string sl, local, remote, st, q, tr, rt, uid, to, inode;
    in >> sl >> local >> remote >> st >> q >> tr >> rt >> uid >> to >> inode;
    if (st == "0A" && local.size() > 5 && local.substr(local.size() - 5) == want) out.push_back(inode);
  }
  return out;
}

bool process_holds_socket(int pid, const std::string& inode) {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
    std::error_code ec2;
    if (std::filesystem::read_symlink(e.path(), ec2).string() == "socket:[" + inode + "]") return true;
  }
  return false;
}

}  // namespace

TEST_CASE("Dashboard.StateAndMetricsParseAndCount" * doctest::timeout(120)) {
  shmray::test::NoLeaks guard;
  const std::uint16_t port = start_with_dashboard();
  std::vector<shmray::ObjectRef<int>> refs;
  for (int i = 0; i < 20; ++i) refs.push_back(shmray::task(cube).remote(i));
  (void)shmray::get(refs);
  for (int i = 0; i < 2; ++i) CHECK_THROWS(shmray::get(shmray::task(fails).options({.max_retries = 0}).remote(i)));
  auto big = shmray::put(std::vector<double>(100'000, 1.0));
  // get() returns when a result is stored; the driver counts the task a moment later.
  REQUIRE(shmray_test::eventually(
      [] {
        const auto s = shmray::stats();
        return s.tasks.finished == 20 && s.tasks.failed == 2;
      },
      10s));

  const shmray_test::HttpReply state = http_get(port, "/api/state");
  CHECK(state.status == 200);
  CHECK(state.headers.at("content-type") == "application/json");
  const shmray_test::Json j = shmray_test::parse_json(state.body);
  CHECK(j["tasks"]["finished"].n == 20);
  CHECK(j["tasks"]["failed"].n == 2);
  CHECK(j["pool_workers"].n == 2);
  CHECK(j["workers"].a.size() == 2);
  CHECK(j["workers"].a[0]["pid"].n > 0);
  CHECK(j["store"]["objects"].n >= 1);
  REQUIRE(!j["store"]["largest"].a.empty());
  CHECK(j["store"]["largest"].a[0]["bytes"].n >= 800'000);
  CHECK(j["store"]["largest"].a[0]["id"].s == big.hex());
  bool cube_seen = false;
  for (const auto& f : j["functions"].a)
    if (f["name"].s == "cube") cube_seen = f["finished"].n == 20 && f["p50_s"].n > 0;
  CHECK(cube_seen);

  const shmray_test::HttpReply m = http_get(port, "/metrics");
  CHECK(m.status == 200);
  CHECK(m.headers.at("content-type").rfind("text/plain; version=0.0.4", 0) == 0);
  const auto ms = shmray_test::parse_prometheus(m.body);
  CHECK(metric(ms, "shmray_tasks_total", {{"outcome", "finished"}}) == 20);
  CHECK(metric(ms, "shmray_tasks_total", {{"outcome", "failed"}}) == 2);
  CHECK(metric(ms, "shmray_function_tasks_total", {{"function", "cube"}, {"outcome", "finished"}}) == 20);
  CHECK(metric(ms, "shmray_task_latency_seconds_count", {{"function", "cube"}}) == 20);
  CHECK(metric(ms, "shmray_task_latency_seconds_bucket", {{"function", "cube"}, {"le", "+Inf"}}) == 20);
  CHECK(metric(ms, "shmray_workers", {}) == 2);

  const std::string page = http_get(port, "/").body;
  CHECK(page.find("<canvas id=\"stream\"") != std::string::npos);
  CHECK(page.find("http") == page.find("http"));  // (no external resource: checked below)
  CHECK(page.find("src=\"http") == std::string::npos);
  CHECK(page.find("href=\"http") == std::string::npos);
  shmray::shutdown();
}

TEST_CASE("Dashboard.TasksEndpointListsRunningTasks" * doctest::timeout(120)) {
  shmray::test::NoLeaks guard;
  const std::uint16_t port = start_with_dashboard();
  shmray_test::Gate gate;
  auto a = shmray::task(held).remote(gate.path());
  auto b = shmray::task(held).remote(gate.path());
  REQUIRE(shmray_test::eventually([] { return shmray::stats().tasks.running == 2; }, 20s));
  const auto r = http_get(port, "/api/tasks?state=running");
  CHECK(r.status == 200);
  const auto j = shmray_test::parse_json(r.body);
  REQUIRE(j["tasks"].a.size() == 2);
  CHECK(j["tasks"].a[0]["function"].s == "held");
  CHECK(j["tasks"].a[0]["worker_slot"].n >= 0);
  CHECK(shmray_test::parse_json(http_get(port, "/api/tasks?state=queued").body)["tasks"].a.empty());
  CHECK(http_get(port, "/api/tasks?state=finished").status == 400);
  CHECK(http_get(port, "/api/tasks").status == 400);
  gate.open();
  CHECK(shmray::get(a) == 0);
  CHECK(shmray::get(b) == 0);
  shmray::shutdown();
}

TEST_CASE("Dashboard.MalformedAndHostileRequestsGet4xx" * doctest::timeout(120)) {
  shmray::test::NoLeaks guard;
  const std::uint16_t port = start_with_dashboard(1);
  CHECK(http_raw(port, "GARBAGE\r\n\r\n").status == 400);
  CHECK(http_raw(port, "GET / HTTP/9.9\r\nHost: 127.0.0.1\r\n\r\n").status / 100 == 4);
  CHECK(http_raw(port, "POST /api/state HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n").status == 405);
  CHECK(http_raw(port, "GET /api/state HTTP/1.1\r\nHost: 127.0.0.1\r\nX: " + std::string(20000, 'a') + "\r\n\r\n")
            .status == 400);
  CHECK(http_raw(port, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\n\r\nhello").status == 400);
  // DNS rebinding: a page of another site that resolved its name to 127.0.0.1.
  CHECK(http_raw(port, "GET /api/state HTTP/1.1\r\nHost: evil.example:80\r\n\r\n").status == 403);
  CHECK(http_get(port, "/nope").status == 404);
  CHECK(http_get(port, "/api/state").status == 200);  // still serving
  shmray::shutdown();
}

TEST_CASE("Dashboard.SlowClientsDoNotHoldUpTasks" * doctest::timeout(120)) {
  shmray::test::NoLeaks guard;
  const std::uint16_t port = start_with_dashboard();
  std::vector<int> stalled;
  for (int i = 0; i < 40; ++i) {  // more than the server takes at once, each with half a request
    const int fd = shmray_test::connect_to(port);
    REQUIRE(fd >= 0);
    const std::string half = "GET /api/sta";
    ::send(fd, half.data(), half.size(), MSG_NOSIGNAL);
    stalled.push_back(fd);
  }
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<shmray::ObjectRef<int>> refs;
  for (int i = 0; i < 500; ++i) refs.push_back(shmray::task(cube).remote(i));
  CHECK(shmray::get(refs, 20s).size() == 500);
  CHECK(std::chrono::steady_clock::now() - t0 < 20s);
  // The stalled ones are dropped after their read deadline; then the server answers again.
  CHECK(shmray_test::eventually(
      [&] {
        try {
          return http_get(port, "/api/state").status == 200;
        } catch (...) {
          return false;
        }
      },
      20s));
  for (int fd : stalled) ::close(fd);
  shmray::shutdown();
}

TEST_CASE("Dashboard.BadAddressOrPortInUseFailsInitWithTheFix" * doctest::timeout(60)) {
  shmray::test::NoLeaks guard;
  for (const char* bad : {"127.0.0.1:99999", "127.0.0.1:http", "no-such-host:8265", "[::1"}) {
    CAPTURE(bad);
    try {
      shmray::init({.num_workers = 1, .quiet = true, .dashboard = bad});
      FAIL("init accepted " << bad);
    } catch (const shmray::Error& e) {
      CHECK(std::string(e.what()).find("SHMRAY_DASHBOARD") != std::string::npos);
    }
    CHECK(!shmray::is_initialized());
  }
  const std::uint16_t port = start_with_dashboard(1);  // holds the port
  shmray::shutdown();
  // Another listener on a port: init says it is in use and how to pick another.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(::listen(fd, 1) == 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  const std::string taken = "127.0.0.1:" + std::to_string(ntohs(a.sin_port));
  try {
    shmray::init({.num_workers = 1, .quiet = true, .dashboard = taken});
    FAIL("init took a port in use");
  } catch (const shmray::Error& e) {
    CHECK(std::string(e.what()).find("in use") != std::string::npos);
    CHECK(std::string(e.what()).find("port 0") != std::string::npos);
  }
  CHECK(!shmray::is_initialized());
  ::close(fd);
  (void)port;
}

TEST_CASE("Dashboard.EnvironmentVariableStartsIt" * doctest::timeout(60)) {
  shmray::test::NoLeaks guard;
  ::setenv("SHMRAY_DASHBOARD", ":0", 1);
  shmray::init({.num_workers = 1, .quiet = true});
  ::unsetenv("SHMRAY_DASHBOARD");
  const std::string url = shmray::stats().dashboard_url;
  CHECK(url.rfind("http://127.0.0.1:", 0) == 0);  // a port alone: loopback
  CHECK(http_get(shmray_test::port_of(url), "/api/state").status == 200);
  shmray::shutdown();
}

TEST_CASE("Dashboard.ShutdownStopsItAndNoChildOrWorkerHoldsTheSocket" * doctest::timeout(120)) {
  shmray::test::NoLeaks guard;
  const std::uint16_t port = start_with_dashboard();
  const auto inodes = listening_inodes(port);
  REQUIRE(inodes.size() == 1);
  const auto state = shmray_test::parse_json(http_get(port, "/api/state").body);
  for (const auto& w : state["workers"].a) CHECK(!process_holds_socket(int(w["pid"].n), inodes[0]));
  // A child of the host forked after init() keeps running past the parent's shutdown.
  int go[2], ready[2];
  REQUIRE(::pipe(go) == 0);
  REQUIRE(::pipe(ready) == 0);
  const pid_t child = ::fork();
  if (child == 0) {  // fork() returned here: the atfork handlers have run
    ::close(go[1]);
    (void)!::write(ready[1], "r", 1);
    char c;
    (void)!::read(go[0], &c, 1);
    ::_exit(0);
  }
  ::close(go[0]);
  ::close(ready[1]);
  char c;
  REQUIRE(::read(ready[0], &c, 1) == 1);
  ::close(ready[0]);
  CHECK(!process_holds_socket(child, inodes[0]));
  shmray::shutdown();
  CHECK(shmray_test::connect_to(port) == -1);  // nobody listens there any more
  ::close(go[1]);
  int status = 0;
  CHECK(::waitpid(child, &status, 0) == child);
}
