// The dashboard's HTTP server on Boost.Beast (dashboard.hpp): one thread running an
// asio io_context, everything asynchronous on it, so one client's slowness delays only that
// client. Reads and writes have deadlines; requests are GET only, headers at most 8 KiB, no
// body; more than kMaxConnections at once are refused; a Host header that is not the
// address itself or localhost is refused on a loopback server (a web page elsewhere cannot
// read it through DNS rebinding). The sampler (dashboard_history.hpp) runs on the same thread.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <optional>
#include <string_view>
#include <thread>
#include <utility>  // before Boost 1.74's asio, which uses std::exchange without it

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "driver/dashboard.hpp"
#include "driver/dashboard_render.hpp"
#include "shmray/errors.hpp"

namespace shmray::driver {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr int kMaxConnections = 32;
std::string_view sv(beast::string_view s) { return {s.data(), s.size()}; }
constexpr auto kIoTimeout = std::chrono::seconds(5);
constexpr std::size_t kMaxTasksListed = 1000;

class Server;

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(tcp::socket s, Server& server);
  ~Connection();
  void read();

 private:
  void on_read(beast::error_code ec);
  void reply(http::status status, std::string body, const char* type, bool keep_alive);
  http::status route(std::string_view target, std::string& body, const char*& type);

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_{8192};
  std::optional<http::request_parser<http::empty_body>> parser_;
  http::response<http::string_body> res_;
  Server& server_;
};

class Server final : public Dashboard {
 public:
  Server(const DashboardSource& src) : src_(src), started_(Clock::now()) {}
  ~Server() override {
    ioc_.stop();
    if (thread_.joinable()) thread_.join();
  }
  void listen(const tcp::endpoint& at, const std::string& address);
  void run();
  std::string url() const override { return url_; }
  bool exposed() const override { return exposed_; }
  void forget_after_fork() noexcept override {
    if (listen_fd_ >= 0) ::close(listen_fd_);
    listen_fd_ = -1;
  }

  int connections = 0;  // only on the server's thread
  std::string state_json();
  std::string metrics();
  std::string tasks_json(std::string_view query, bool& ok);
  bool host_allowed(std::string_view host) const;

 private:
  void accept();
  void tick();
  double now() const { return std::chrono::duration<double>(Clock::now() - started_).count(); }

  DashboardSource src_;
  Clock::time_point started_;
  asio::io_context ioc_{1};
  tcp::acceptor acceptor_{ioc_};
  asio::steady_timer timer_{ioc_};
  std::thread thread_;
  History history_;
  std::vector<WorkerView> scratch_;
  std::string url_, host_port_;
  bool exposed_ = false;
  int listen_fd_ = -1;
};

Connection::Connection(tcp::socket s, Server& server) : stream_(std::move(s)), server_(server) {
  ++server_.connections;
}
Connection::~Connection() { --server_.connections; }

void Connection::read() {
  parser_.emplace();
  parser_->header_limit(8192);
  parser_->body_limit(0);
  stream_.expires_after(kIoTimeout);  // a client that sends half a request is dropped then
  http::async_read(stream_, buffer_, *parser_,
                   [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
}

void Connection::on_read(beast::error_code ec) {
  if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::operation_aborted ||
      ec == asio::error::connection_reset || ec == asio::error::eof)
    return;  // gone, or too slow: the socket closes with this object
  if (ec) return reply(http::status::bad_request, "malformed request: " + ec.message() + "\n", "text/plain", false);
  const auto& req = parser_->get();
  if (req.method() != http::verb::get)
    return reply(http::status::method_not_allowed, "only GET\n", "text/plain", false);
  if (!server_.host_allowed(sv(req[http::field::host])))
    return reply(http::status::forbidden, "unexpected Host header\n", "text/plain", false);
  std::string body;
  const char* type = "text/plain";
  const http::status st = route(sv(req.target()), body, type);
  reply(st, std::move(body), type, req.keep_alive() && st == http::status::ok);
}

http::status Connection::route(std::string_view target, std::string& body, const char*& type) {
  const std::size_t q = target.find('?');
  const std::string_view path = target.substr(0, q), query = q == target.npos ? "" : target.substr(q + 1);
  if (path == "/" || path == "/index.html") {
    body = kDashboardPage;
    type = "text/html; charset=utf-8";
  } else if (path == "/api/state") {
    body = server_.state_json();
    type = "application/json";
  } else if (path == "/api/tasks") {
    bool ok = false;
    body = server_.tasks_json(query, ok);
    type = ok ? "application/json" : "text/plain";
    if (!ok) return http::status::bad_request;
  } else if (path == "/metrics") {
    body = server_.metrics();
    type = "text/plain; version=0.0.4; charset=utf-8";
  } else {
    body = "not found; try /, /api/state, /api/tasks?state=running, /metrics\n";
    return http::status::not_found;
  }
  return http::status::ok;
}

void Connection::reply(http::status status, std::string body, const char* type, bool keep_alive) {
  res_ = {};
  res_.version(11);
  res_.result(status);
  res_.set(http::field::server, "shmray");
  res_.set(http::field::content_type, type);
  res_.set(http::field::cache_control, "no-store");
  res_.set("X-Content-Type-Options", "nosniff");
  res_.set("Content-Security-Policy",
           "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'");
  res_.body() = std::move(body);
  res_.keep_alive(keep_alive);
  res_.prepare_payload();
  stream_.expires_after(kIoTimeout);  // a client that does not read its answer is dropped too
  http::async_write(stream_, res_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
    if (ec) return;
    if (self->res_.keep_alive()) return self->read();
    beast::error_code ignored;
    self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
  });
}

}  // namespace

namespace {

void Server::listen(const tcp::endpoint& at, const std::string& address) {
  beast::error_code ec;
  acceptor_.open(at.protocol(), ec);
  if (!ec)
    acceptor_.set_option(asio::socket_base::reuse_address(true), ec);  // past TIME_WAIT; a live listener still refuses
  if (!ec) acceptor_.bind(at, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    const bool in_use = ec == asio::error::address_in_use;
    throw Error("shmray::init: the dashboard cannot listen on " + address + ": " + ec.message() +
                (in_use ? " (another program, or another shmray pool, listens there)" : "") +
                "; give another host:port in Options::dashboard or SHMRAY_DASHBOARD (port 0 picks a free one)");
  }
  listen_fd_ = acceptor_.native_handle();
  const tcp::endpoint local = acceptor_.local_endpoint();
  exposed_ = !local.address().is_loopback();
  const std::string host =
      local.address().is_v6() ? "[" + local.address().to_string() + "]" : local.address().to_string();
  host_port_ = host + ":" + std::to_string(local.port());
  url_ = "http://" + host_port_ + "/";
}

/// A thread of the library's own blocks every signal (as the driver's event thread does).
void Server::run() {
  sigset_t all, old;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &old);
  accept();
  tick();
  try {
    thread_ = std::thread([this] {
      for (;;) {
        try {
          ioc_.run();
          return;
        } catch (...) {  // a request that could not be answered (bad_alloc): drop it, keep serving
        }
      }
    });
  } catch (...) {
    ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
    throw;
  }
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

void Server::accept() {
  acceptor_.async_accept([this](beast::error_code ec, tcp::socket s) {
    if (ec == asio::error::operation_aborted) return;
    if (!ec && connections < kMaxConnections) std::make_shared<Connection>(std::move(s), *this)->read();
    // else: refused (too many at once); the socket closes here
    accept();
  });
}

void Server::tick() {
  observe_workers(src_.views, scratch_);
  const Counters& c = src_.counters;
  history_.sample(now(), scratch_,
                  c.finished.load(std::memory_order_relaxed) + c.failed.load(std::memory_order_relaxed) +
                      c.cancelled.load(std::memory_order_relaxed));
  timer_.expires_after(std::chrono::milliseconds(int(History::kInterval * 1000)));
  timer_.async_wait([this](beast::error_code ec) {
    if (!ec) tick();
  });
}

std::string Server::state_json() {
  const Observation obs = observe(src_.views, src_.counters, src_.tasks.outside_relaxed());
  const StoreView store = observe_store(src_.views, src_.objects.hwm_relaxed(), 5);
  return render_state({obs, store, src_.counters, history_, now(), now(), std::int32_t(::getpid())});
}

std::string Server::metrics() {
  const Observation obs = observe(src_.views, src_.counters, src_.tasks.outside_relaxed());
  const StoreView store = observe_store(src_.views, src_.objects.hwm_relaxed(), 0);
  return render_metrics(obs, store, src_.counters);
}

std::string Server::tasks_json(std::string_view query, bool& ok) {
  static constexpr std::pair<std::string_view, shm::TaskState> kStates[] = {{"running", shm::TaskState::kClaimed},
                                                                            {"queued", shm::TaskState::kQueued},
                                                                            {"waiting", shm::TaskState::kWaiting}};
  ok = false;
  std::string_view state = query.substr(0, query.find('&'));
  if (state.substr(0, 6) != "state=") return "give ?state=running, ?state=queued or ?state=waiting\n";
  state.remove_prefix(6);
  for (const auto& [name, s] : kStates) {
    if (state != name) continue;
    ok = true;
    return render_tasks(list_tasks(src_.views, std::uint8_t(s), kMaxTasksListed), src_.counters,
                        std::string(name).c_str());
  }
  return "unknown state; give ?state=running, ?state=queued or ?state=waiting (ended tasks are counted in "
         "/api/state, not listed)\n";
}

bool Server::host_allowed(std::string_view host) const {
  if (exposed_ || host.empty() || host == host_port_) return true;
  // strip the port
  std::string_view name = host;
  if (name.front() == '[') {
    name = name.substr(0, name.find(']') + 1);
  } else if (const std::size_t colon = name.rfind(':'); colon != name.npos) {
    name = name.substr(0, colon);
  }
  return name == "localhost" || name == "[::1]" || name.substr(0, 4) == "127.";
}

}  // namespace

std::unique_ptr<Dashboard> Dashboard::start(const std::string& address, const DashboardSource& src) {
  std::string host, why;
  std::uint16_t port = 0;
  if (!parse_dashboard_address(address, host, port, why))
    throw Error("shmray::init: dashboard address \"" + address + "\" is malformed (" + why +
                "); give host:port, e.g. \"127.0.0.1:8265\" or \":0\" for a free port, in Options::dashboard or "
                "SHMRAY_DASHBOARD");
  beast::error_code ec;
  const asio::ip::address ip = asio::ip::make_address(host, ec);
  if (ec)
    throw Error("shmray::init: dashboard host \"" + host +
                "\" is not an IP address (nor localhost); give one, e.g. "
                "\"127.0.0.1:8265\", in Options::dashboard or SHMRAY_DASHBOARD");
  auto server = std::make_unique<Server>(src);
  server->listen(tcp::endpoint(ip, port), address);
  server->run();
  return server;
}

}  // namespace shmray::driver
