#pragma once
// The demos' command-line flags. A bad flag or value prints what is wrong (naming the flag)
// and the usage line, and exits 2 before any pool starts: atoi turned "abc" into 0 (for
// --workers: one worker per CPU) and "-1" into 4294967295 workers (init threw, uncaught).
// C++17 and no API header, so the Ray demo still builds against Ray's headers alone.
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace demo {

/// Walks argv: `while (args.next()) { if (args.is("--n")) n = args.int_value(1, 9); else args.unknown(); }`
class Args {
 public:
  /// `usage`: the flags part of the usage line, e.g. "[--workers N] [--unit-ms M]".
  Args(int argc, char** argv, const char* usage) : argc_(argc), argv_(argv), usage_(usage) {}

  /// Moves to the next argument; false after the last. `--help` (or `-h`) prints the usage
  /// line to stdout and exits 0.
  bool next() {
    if (++i_ >= argc_) return false;
    if (arg() == "--help" || arg() == "-h") {
      std::printf("usage: %s %s\n", program(), usage_);
      std::exit(0);
    }
    return true;
  }
  std::string_view arg() const { return argv_[i_]; }
  bool is(std::string_view flag) const { return arg() == flag; }
  bool starts_with(std::string_view prefix) const { return arg().substr(0, prefix.size()) == prefix; }

  /// The argument after the current flag, as a whole decimal number from `lo` to `hi`.
  int int_value(int lo, int hi) {
    const std::string flag(arg());
    if (i_ + 1 >= argc_) fail(flag + " needs a value");
    const std::string_view v = argv_[++i_];
    int n = 0;
    const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (v.empty() || ec != std::errc() || end != v.data() + v.size() || n < lo || n > hi)
      fail(flag + " takes a whole number from " + std::to_string(lo) + " to " + std::to_string(hi) + ", not \"" +
           std::string(v) + "\"");
    return n;
  }

  /// The argument after the current flag, as it is (not empty).
  std::string string_value() {
    const std::string flag(arg());
    if (i_ + 1 >= argc_ || !*argv_[i_ + 1]) fail(flag + " needs a value");
    return argv_[++i_];
  }

  [[noreturn]] void unknown() const { fail("unknown flag \"" + std::string(arg()) + "\""); }
  /// Prints `program: what` and the usage line to stderr, exits 2.
  [[noreturn]] void fail(const std::string& what) const {
    std::fprintf(stderr, "%s: %s\nusage: %s %s\n", program(), what.c_str(), program(), usage_);
    std::exit(2);
  }

 private:
  const char* program() const { return argc_ > 0 && argv_[0] ? argv_[0] : "demo"; }
  int argc_;
  char** argv_;
  const char* usage_;
  int i_ = 0;
};

}  // namespace demo
