#pragma once
// What the dashboard tests need to talk to it strictly: a raw HTTP/1.1 client on a socket
// (every call has a deadline), a strict JSON parser (RFC 8259 grammar; throws on anything
// else) and a strict checker of the Prometheus text format 0.0.4.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace shmray_test {

struct HttpReply {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};
/// Sends `request` as is to 127.0.0.1:`port` and reads the reply until the server closes or
/// Content-Length bytes came; throws on a timeout (5 s) or a malformed reply.
HttpReply http_raw(std::uint16_t port, const std::string& request);
/// GET `target` with Host and Connection: close.
HttpReply http_get(std::uint16_t port, const std::string& target);
/// A connected socket to 127.0.0.1:`port` (the caller closes it); -1 when refused.
int connect_to(std::uint16_t port);
/// The port of a URL like "http://127.0.0.1:8265/".
std::uint16_t port_of(const std::string& url);

struct Json {
  enum Kind { kNull, kBool, kNumber, kString, kArray, kObject } kind = kNull;
  bool b = false;
  double n = 0;
  std::string s;
  std::vector<Json> a;
  std::map<std::string, Json> o;
  /// Member `k` of an object; throws when this is no object or has no such member.
  const Json& operator[](const std::string& k) const;
};
/// Parses the whole text as one JSON value; throws std::runtime_error naming the offset.
Json parse_json(const std::string& text);

struct Metric {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};
/// Checks the exposition format strictly (every sample line `name{labels} value`, each
/// family's HELP and TYPE before its samples and once, histogram buckets cumulative and
/// ending in le="+Inf" equal to _count); throws std::runtime_error naming the line.
std::vector<Metric> parse_prometheus(const std::string& text);

}  // namespace shmray_test
