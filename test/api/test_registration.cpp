// Errors about registration that say what to do: a function never registered is named (its
// symbol when exported, else its type), one registered after init() (as a library loaded
// with dlopen would) is refused at submit with the reason, and init() after the host started
// threads warns once.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <shmray/shmray.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>

#include "support/leak_check.hpp"

using namespace std::chrono_literals;

int never_registered(int x) { return x; }  // no SHMRAY_REMOTE on purpose
int registered_late(int x) { return x + 1; }

namespace {

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const shmray::UnregisteredFunctionError& e) {
    return e.what();
  }
  return "";
}

// Runs `f` with fd 2 going to a file; returns what was written there.
std::string stderr_of(const std::function<void()>& f) {
  char path[] = "/tmp/shmray_stderr_XXXXXX";
  const int fd = ::mkstemp(path);
  REQUIRE(fd >= 0);
  const int saved = ::dup(STDERR_FILENO);
  ::dup2(fd, STDERR_FILENO);
  try {
    f();
  } catch (...) {
    ::dup2(saved, STDERR_FILENO);
    ::close(saved);
    ::close(fd);
    ::unlink(path);
    throw;
  }
  ::dup2(saved, STDERR_FILENO);
  ::close(saved);
  ::close(fd);
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  ::unlink(path);
  return ss.str();
}

}  // namespace

TEST_CASE("Registration.AnUnregisteredFunctionIsNamed" * doctest::timeout(60)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 1, .quiet = true});
  const std::string m = message_of([] { (void)shmray::task(never_registered); });
  CAPTURE(m);
  // The symbol when the executable exports it (-rdynamic), else the function's type.
  CHECK((m.find("never_registered") != std::string::npos || m.find("int (int)") != std::string::npos));
  CHECK(m.find("SHMRAY_REMOTE") != std::string::npos);
  shmray::shutdown();
}

TEST_CASE("Registration.AfterInitIsRefusedByNameUntilTheNextInit" * doctest::timeout(60)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 1, .quiet = true});
  // What a library loaded with dlopen after init() does in its static initialisers.
  shmray::detail::register_remote("registered_late", registered_late);
  const std::string m = message_of([] { (void)shmray::task(registered_late).remote(1); });
  CAPTURE(m);
  CHECK(m.find("registered_late") != std::string::npos);
  CHECK(m.find("after shmray::init()") != std::string::npos);
  shmray::shutdown();
  // Workers forked by the next init() have it.
  shmray::init({.num_workers = 1, .quiet = true});
  CHECK(shmray::get(shmray::task(registered_late).remote(1), 30s) == 2);
  shmray::shutdown();
}

TEST_CASE("Registration.InitAfterThreadsWarnsOnce" * doctest::timeout(60)) {
  shmray::test::NoLeaks guard;
  std::atomic<bool> stop{false};
  std::thread busy([&] {
    while (!stop.load()) std::this_thread::sleep_for(1ms);
  });
  const std::string first = stderr_of([] { shmray::init({.num_workers = 1}); });
  shmray::shutdown();
  const std::string second = stderr_of([] { shmray::init({.num_workers = 1}); });
  shmray::shutdown();
  stop = true;
  busy.join();
  CAPTURE(first);
  CHECK(first.find("threads already") != std::string::npos);
  CHECK(first.find("call init() before starting threads") != std::string::npos);
  CHECK(second.find("threads already") == std::string::npos);  // once per process
}
