#pragma once
// A minimal JSON value and writer: all the benchmark needs to emit the peers' JSON layout
// (objects keep insertion order so our file reads in the same order as peers.py's).
// No parser: the benchmark only writes JSON.
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace bench {

class Json {
 public:
  using Array = std::vector<Json>;
  /// Ordered key/value pairs (insertion order is output order).
  using Object = std::vector<std::pair<std::string, Json>>;

  Json() = default;  // null
  Json(std::nullptr_t) {}
  Json(bool b) : v_(b) {}
  Json(double d) : v_(d) {}
  template <class I, std::enable_if_t<std::is_integral_v<I> && !std::is_same_v<I, bool>, int> = 0>
  Json(I i) : v_(static_cast<std::int64_t>(i)) {}
  Json(const char* s) : v_(std::string(s)) {}
  Json(std::string s) : v_(std::move(s)) {}
  Json(Array a) : v_(std::move(a)) {}
  Json(Object o) : v_(std::move(o)) {}

  static Json array() { return Json(Array{}); }
  static Json object() { return Json(Object{}); }
  template <class T>
  static Json array_of(const std::vector<T>& xs) {
    Array a;
    a.reserve(xs.size());
    for (const T& x : xs) a.emplace_back(x);
    return Json(std::move(a));
  }

  bool is_object() const { return std::holds_alternative<Object>(v_); }

  /// Object member: replaces the value of an existing key, else appends. Turns null into {}.
  Json& set(const std::string& key, Json value) {
    if (std::holds_alternative<std::nullptr_t>(v_)) v_ = Object{};
    Object& o = std::get<Object>(v_);
    for (auto& [k, v] : o)
      if (k == key) return v = std::move(value);
    o.emplace_back(key, std::move(value));
    return o.back().second;
  }
  /// Appends to an array. Turns null into [].
  void push(Json value) {
    if (std::holds_alternative<std::nullptr_t>(v_)) v_ = Array{};
    std::get<Array>(v_).push_back(std::move(value));
  }
  const Object& members() const { return std::get<Object>(v_); }

  /// Pretty-printed with `indent` spaces per level (peers.py uses json.dump(indent=1)).
  std::string dump(int indent = 1) const {
    std::string out;
    write(out, indent, 0);
    out += '\n';
    return out;
  }

 private:
  static void newline(std::string& out, int indent, int level) {
    out += '\n';
    out.append(static_cast<std::size_t>(indent * level), ' ');
  }
  static void quote(std::string& out, const std::string& s) {
    out += '"';
    for (unsigned char c : s) {
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
          if (c < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out += buf;
          } else {
            out += static_cast<char>(c);
          }
      }
    }
    out += '"';
  }
  void write(std::string& out, int indent, int level) const {
    if (std::holds_alternative<std::nullptr_t>(v_)) {
      out += "null";
    } else if (const bool* b = std::get_if<bool>(&v_)) {
      out += *b ? "true" : "false";
    } else if (const std::int64_t* i = std::get_if<std::int64_t>(&v_)) {
      out += std::to_string(*i);
    } else if (const double* d = std::get_if<double>(&v_)) {
      if (!std::isfinite(*d)) {
        out += "null";  // JSON has no NaN/Inf
      } else {
        char buf[32];  // shortest text that round-trips, as Python's json writes floats
        const auto res = std::to_chars(buf, buf + sizeof buf, *d);
        out.append(buf, res.ptr);
      }
    } else if (const std::string* s = std::get_if<std::string>(&v_)) {
      quote(out, *s);
    } else if (const Array* a = std::get_if<Array>(&v_)) {
      if (a->empty()) {
        out += "[]";
        return;
      }
      out += '[';
      for (std::size_t k = 0; k < a->size(); ++k) {
        if (k) out += ',';
        newline(out, indent, level + 1);
        (*a)[k].write(out, indent, level + 1);
      }
      newline(out, indent, level);
      out += ']';
    } else {
      const Object& o = std::get<Object>(v_);
      if (o.empty()) {
        out += "{}";
        return;
      }
      out += '{';
      for (std::size_t k = 0; k < o.size(); ++k) {
        if (k) out += ',';
        newline(out, indent, level + 1);
        quote(out, o[k].first);
        out += ": ";
        o[k].second.write(out, indent, level + 1);
      }
      newline(out, indent, level);
      out += '}';
    }
  }

  std::variant<std::nullptr_t, bool, std::int64_t, double, std::string, Array, Object> v_;
};

}  // namespace bench
