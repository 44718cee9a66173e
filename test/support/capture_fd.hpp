#pragma once
// CaptureFd: points fd 1 or 2 at a temporary file (not a terminal) until restore(), for tests
// that read what the library printed. Header-only, for doctest tests (it REQUIREs).
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

namespace shmray::test {

class CaptureFd {
 public:
  explicit CaptureFd(int fd) : fd_(fd) {
    char name[] = "/tmp/shmray-capture-XXXXXX";
    file_ = ::mkstemp(name);
    REQUIRE(file_ >= 0);
    path_ = name;
    flush_all();
    saved_ = ::dup(fd_);
    REQUIRE(saved_ >= 0);
    REQUIRE(::dup2(file_, fd_) == fd_);
  }
  ~CaptureFd() {
    restore();
    ::close(file_);
    ::unlink(path_.c_str());
  }
  CaptureFd(const CaptureFd&) = delete;
  CaptureFd& operator=(const CaptureFd&) = delete;
  /// Points the fd back where it was (the file stays readable by text()).
  void restore() {
    if (saved_ < 0) return;
    flush_all();
    ::dup2(saved_, fd_);
    ::close(saved_);
    saved_ = -1;
  }
  /// What was written to the file so far (also after restore()).
  std::string text() const {
    std::ifstream in(path_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

 private:
  static void flush_all() {
    std::cout.flush();
    std::cerr.flush();
    std::fflush(nullptr);
  }
  int fd_, file_ = -1, saved_ = -1;
  std::string path_;
};

}  // namespace shmray::test
