// http_check.hpp: a strict client and strict parsers for the dashboard tests.
#include "observe/http_check.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <regex>
#include <set>
#include <stdexcept>

namespace shmray_test {

int connect_to(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

std::uint16_t port_of(const std::string& url) {
  const std::size_t colon = url.rfind(':');
  if (colon == std::string::npos) throw std::runtime_error("no port in " + url);
  return static_cast<std::uint16_t>(std::stoi(url.substr(colon + 1)));
}

namespace {
HttpReply parse_reply(const std::string& raw) {
  HttpReply r;
  const std::size_t end = raw.find("\r\n\r\n");
  if (raw.compare(0, 9, "HTTP/1.1 ") != 0 || end == std::string::npos)
    throw std::runtime_error("malformed reply: " + raw.substr(0, 80));
  r.status = std::stoi(raw.substr(9, 3));
  std::size_t at = raw.find("\r\n") + 2;
  while (at < end) {
    const std::size_t eol = raw.find("\r\n", at), colon = raw.find(':', at);
    if (colon == std::string::npos || colon > eol) throw std::runtime_error("malformed header line");
    std::string name = raw.substr(at, colon - at);
    for (char& c : name) c = char(std::tolower(static_cast<unsigned char>(c)));
    std::size_t v = colon + 1;
    while (v < eol && raw[v] == ' ') ++v;
    r.headers[name] = raw.substr(v, eol - v);
    at = eol + 2;
  }
  r.body = raw.substr(end + 4);
  if (r.headers.count("content-length") && std::stoul(r.headers["content-length"]) != r.body.size())
    throw std::runtime_error("body length differs from Content-Length");
  return r;
}
}  // namespace

HttpReply http_raw(std::uint16_t port, const std::string& request) {
  const int fd = connect_to(port);
  if (fd < 0) throw std::runtime_error("connection refused on port " + std::to_string(port));
  ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string raw;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  char buf[65536];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
    pollfd p{fd, POLLIN, 0};
    if (left.count() <= 0 || ::poll(&p, 1, int(left.count())) <= 0) {
      ::close(fd);
      throw std::runtime_error("no reply within 5 s");
    }
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    raw.append(buf, std::size_t(n));
  }
  ::close(fd);
  return parse_reply(raw);
}

HttpReply http_get(std::uint16_t port, const std::string& target) {
  return http_raw(
      port, "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) + "\r\nConnection: close\r\n\r\n");
}

const Json& Json::operator[](const std::string& k) const {
  if (kind != kObject) throw std::runtime_error("not an object (looking for " + k + ")");
  auto it = o.find(k);
  if (it == o.end()) throw std::runtime_error("no member " + k);
  return it->second;
}

namespace {
class JsonParser {
 public:
  explicit JsonParser(const std::string& t) : t_(t) {}
  Json all() {
    Json v = value();
    ws();
    if (i_ != t_.size()) fail("trailing bytes");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& why) {
    throw std::runtime_error("JSON: " + why + " at " + std::to_string(i_));
  }
  void ws() {
    while (i_ < t_.size() && (t_[i_] == ' ' || t_[i_] == '\n' || t_[i_] == '\r' || t_[i_] == '\t')) ++i_;
  }
  bool lit(const char* w) {
    const std::string s(w);
    if (t_.compare(i_, s.size(), s) != 0) return false;
    i_ += s.size();
    return true;
  }
  Json value() {
    ws();
    if (i_ >= t_.size()) fail("end of text");
    Json v;
    const char c = t_[i_];
    if (c == '{') return object();
    if (c == '[') return array();
    if (c == '"') return v.kind = Json::kString, v.s = string(), v;
    if (lit("true")) return v.kind = Json::kBool, v.b = true, v;
    if (lit("false")) return v.kind = Json::kBool, v;
    if (lit("null")) return v;
    return v.kind = Json::kNumber, v.n = number(), v;
  }
  double number() {
    static const std::regex re(R"(^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?)");
    std::smatch m;
    const std::string rest = t_.substr(i_, 64);
    if (!std::regex_search(rest, m, re) || m.length(0) == 0) fail("bad value");
    i_ += std::size_t(m.length(0));
    return std::strtod(m.str(0).c_str(), nullptr);
  }
  std::string string() {
    ++i_;
    std::string s;
    while (i_ < t_.size() && t_[i_] != '"') {
      const unsigned char c = static_cast<unsigned char>(t_[i_]);
      if (c < 0x20) fail("control character in a string");
      if (c != '\\') {
        s += char(c), ++i_;
        continue;
      }
      if (++i_ >= t_.size()) fail("end in an escape");
      const char e = t_[i_++];
      if (e == 'u') {
        if (i_ + 4 > t_.size() || t_.find_first_not_of("0123456789abcdefABCDEF", i_) < i_ + 4) fail("bad \\u");
        const long cp = std::strtol(t_.substr(i_, 4).c_str(), nullptr, 16);
        i_ += 4;
        s += cp < 0x80 ? char(cp) : '?';
      } else if (std::string("\"\\/bfnrt").find(e) != std::string::npos) {
        s += e;
      } else {
        fail("bad escape");
      }
    }
    if (i_ >= t_.size()) fail("unterminated string");
    ++i_;
    return s;
  }
  Json array() {
    Json v;
    v.kind = Json::kArray;
    ++i_;
    ws();
    if (i_ < t_.size() && t_[i_] == ']') return ++i_, v;
    for (;;) {
      v.a.push_back(value());
      ws();
      if (i_ < t_.size() && t_[i_] == ',')
        ++i_;
      else if (i_ < t_.size() && t_[i_] == ']')
        return ++i_, v;
      else
        fail("expected , or ]");
    }
  }
  Json object() {
    Json v;
    v.kind = Json::kObject;
    ++i_;
    ws();
    if (i_ < t_.size() && t_[i_] == '}') return ++i_, v;
    for (;;) {
      ws();
      if (i_ >= t_.size() || t_[i_] != '"') fail("expected a member name");
      std::string k = string();
      ws();
      if (i_ >= t_.size() || t_[i_++] != ':') fail("expected :");
      if (!v.o.emplace(k, value()).second) fail("duplicate member " + k);
      ws();
      if (i_ < t_.size() && t_[i_] == ',')
        ++i_;
      else if (i_ < t_.size() && t_[i_] == '}')
        return ++i_, v;
      else
        fail("expected , or }");
    }
  }
  const std::string& t_;
  std::size_t i_ = 0;
};
}  // namespace

Json parse_json(const std::string& text) { return JsonParser(text).all(); }

namespace {
std::map<std::string, std::string> parse_labels(const std::string& text, const std::string& line) {
  std::map<std::string, std::string> out;
  static const std::regex name_re("^[a-zA-Z_][a-zA-Z0-9_]*$");
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t eq = text.find('=', i);
    if (eq == std::string::npos || eq + 1 >= text.size() || text[eq + 1] != '"')
      throw std::runtime_error("bad label in: " + line);
    const std::string name = text.substr(i, eq - i);
    if (!std::regex_match(name, name_re)) throw std::runtime_error("bad label name in: " + line);
    std::string v;
    std::size_t j = eq + 2;
    for (; j < text.size() && text[j] != '"'; ++j) {
      if (text[j] == '\\') {
        if (++j >= text.size() || std::string("\\\"n").find(text[j]) == std::string::npos)
          throw std::runtime_error("bad escape in: " + line);
        v += text[j] == 'n' ? '\n' : text[j];
      } else {
        v += text[j];
      }
    }
    if (j >= text.size()) throw std::runtime_error("unterminated label value in: " + line);
    if (!out.emplace(name, v).second) throw std::runtime_error("duplicate label in: " + line);
    i = j + 1;
    if (i < text.size() && text[i++] != ',') throw std::runtime_error("expected , between labels in: " + line);
  }
  return out;
}

double parse_value(const std::string& v, const std::string& line) {
  if (v == "+Inf") return HUGE_VAL;
  if (v == "-Inf") return -HUGE_VAL;
  if (v == "NaN") return NAN;
  static const std::regex num_re(R"(^-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?$)");
  if (!std::regex_match(v, num_re)) throw std::runtime_error("bad value in: " + line);
  return std::strtod(v.c_str(), nullptr);
}

// Cumulative buckets ending in +Inf == _count, and a _sum, for every series of a histogram.
void check_histograms(const std::vector<Metric>& ms, const std::map<std::string, std::string>& types) {
  for (const auto& [fam, type] : types) {
    if (type != "histogram") continue;
    std::map<std::map<std::string, std::string>, std::vector<std::pair<double, double>>> buckets;
    std::map<std::map<std::string, std::string>, double> counts, sums;
    for (const Metric& m : ms) {
      auto labels = m.labels;
      if (m.name == fam + "_bucket") {
        if (!labels.count("le")) throw std::runtime_error(fam + "_bucket without le");
        const double le = labels["le"] == "+Inf" ? HUGE_VAL : parse_value(labels["le"], m.name);
        labels.erase("le");
        buckets[labels].emplace_back(le, m.value);
      } else if (m.name == fam + "_count") {
        counts[labels] = m.value;
      } else if (m.name == fam + "_sum") {
        sums[labels] = m.value;
      }
    }
    for (const auto& [labels, bs] : buckets) {
      for (std::size_t i = 1; i < bs.size(); ++i)
        if (!(bs[i].first > bs[i - 1].first) || bs[i].second < bs[i - 1].second)
          throw std::runtime_error(fam + ": buckets not increasing / cumulative");
      if (bs.empty() || !std::isinf(bs.back().first)) throw std::runtime_error(fam + ": no le=\"+Inf\" bucket");
      if (!counts.count(labels) || counts.at(labels) != bs.back().second)
        throw std::runtime_error(fam + ": _count differs from the +Inf bucket");
      if (!sums.count(labels)) throw std::runtime_error(fam + ": no _sum");
    }
  }
}
}  // namespace

std::vector<Metric> parse_prometheus(const std::string& text) {
  if (text.empty() || text.back() != '\n') throw std::runtime_error("text does not end in a newline");
  static const std::regex sample_re(R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})? (\S+)( -?[0-9]+)?$)");
  static const std::regex meta_re(R"(^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$)");
  static const std::set<std::string> kinds = {"counter", "gauge", "histogram", "summary", "untyped"};
  std::map<std::string, std::string> types;
  std::set<std::string> helped, seen_samples, closed;
  std::string current;  // family whose samples come now
  std::vector<Metric> out;
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t eol = text.find('\n', start);
    const std::string line = text.substr(start, eol - start);
    start = eol + 1;
    std::smatch m;
    if (std::regex_match(line, m, meta_re)) {
      const std::string fam = m[2];
      if (seen_samples.count(fam)) throw std::runtime_error("HELP/TYPE after samples: " + line);
      if (m[1] == "TYPE") {
        if (!kinds.count(m[3]) || !types.emplace(fam, m[3]).second) throw std::runtime_error("bad TYPE: " + line);
      } else if (!helped.insert(fam).second) {
        throw std::runtime_error("second HELP: " + line);
      }
      continue;
    }
    if (!line.empty() && line[0] == '#') continue;
    if (!std::regex_match(line, m, sample_re)) throw std::runtime_error("not `name{labels} value`: " + line);
    Metric metric{m[1], parse_labels(m[3], line), parse_value(m[4], line)};
    std::string fam = metric.name;
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      const std::string s(suffix);
      if (fam.size() > s.size() && fam.compare(fam.size() - s.size(), s.size(), s) == 0 &&
          types.count(fam.substr(0, fam.size() - s.size())) &&
          types[fam.substr(0, fam.size() - s.size())] == "histogram")
        fam = fam.substr(0, fam.size() - s.size());
    }
    if (!types.count(fam) || !helped.count(fam)) throw std::runtime_error("sample without HELP and TYPE: " + line);
    if (fam != current) {
      if (closed.count(fam)) throw std::runtime_error("family's samples not together: " + line);
      if (!current.empty()) closed.insert(current);
      current = fam;
    }
    seen_samples.insert(fam);
    out.push_back(std::move(metric));
  }
  check_histograms(out, types);
  return out;
}

}  // namespace shmray_test
