// A process forked from one that runs a pool owns nothing: a child of the host after init()
// (however it ends) and a child forked inside a task leave the parent's pool alone, and every
// API call in them throws ForkedProcessError. A host's child may start a pool of its own.
#include <doctest/doctest.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <shmray/shmray.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "api/gate.hpp"
#include "support/child_role.hpp"
#include "support/leak_check.hpp"

extern char** environ;

namespace {

using namespace std::chrono_literals;

int square(int x) { return x * x; }
SHMRAY_REMOTE(square);

int gated(std::string path, int v) {
  shmray_test::wait_for_gate(path);
  return v;
}
SHMRAY_REMOTE(gated);

int slow_square(int x) {
  std::this_thread::sleep_for(200ms);
  return x * x;
}
SHMRAY_REMOTE(slow_square);

const shmray::Options kSmall{.num_workers = 2, .object_store_bytes = 64 << 20, .quiet = true};

// Runs `f`; true when it throws ForkedProcessError (reports anything else on stderr).
bool refuses(const char* what, const std::function<void()>& f) {
  try {
    f();
  } catch (const shmray::ForkedProcessError& e) {
    if (std::string(e.what()).find("forked") != std::string::npos) return true;
    std::fprintf(stderr, "%s: unhelpful message: %s\n", what, e.what());
    return false;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: threw %s instead\n", what, e.what());
    return false;
  }
  std::fprintf(stderr, "%s: did not throw\n", what);
  return false;
}

// Every API entry in a forked child: how many did not refuse.
int count_unrefused(const shmray::ObjectRef<int>& ready, const shmray::ObjectRef<std::vector<int>>& vec) {
  int bad = 0;
  bad += !refuses("get", [&] { (void)shmray::get(ready); });
  bad += !refuses("get(timeout)", [&] { (void)shmray::get(ready, 1s); });
  bad += !refuses("get(list)", [&] { (void)shmray::get(std::vector{ready}); });
  bad += !refuses("ref.get", [&] { (void)ready.get(); });
  bad += !refuses("get_view", [&] { (void)shmray::get_view(vec); });
  bad += !refuses("wait", [&] { (void)shmray::wait(std::vector{ready}); });
  bad += !refuses("remote", [&] { (void)shmray::task(square).remote(2); });
  bad += !refuses("remote(ref)", [&] { (void)shmray::task(square).remote(ready); });
  bad += !refuses("put", [&] { (void)shmray::put(5); });
  bad += !refuses("Buffer", [&] { shmray::Buffer<int> b(4); });
  bad += !refuses("cancel", [&] { shmray::cancel(ready); });
  bad += !refuses("store_stats", [] { (void)shmray::store_stats(); });
  if (shmray::is_initialized()) ++bad, std::fprintf(stderr, "is_initialized() in the child\n");
  {
    auto copy = ready;  // copies and destructors of inherited refs: no-ops, no throw
    shmray::ObjectRef<int> moved = std::move(copy);
  }
  shmray::shutdown();  // no-op
  return bad;
}

// -------------------------------------------------------------- the host forks after init()

// The host program: init, tasks in flight, fork; the child ends as `mode` says; the parent
// then checks its pool still works and returns from main (exit code 0, no SIGPIPE).
int host_fork_role(const std::vector<std::string>& args) {
  const std::string mode = args.empty() ? "exit" : args[0];
  shmray::Session session(kSmall);
  auto ready = shmray::task(square).remote(3);
  if (shmray::get(ready) != 9) return 20;
  auto vec = shmray::put(std::vector<int>{1, 2, 3});
  std::vector<shmray::ObjectRef<int>> inflight;
  for (int i = 0; i < 4; ++i) inflight.push_back(shmray::task(slow_square).remote(i));
  // own_pool_busy: a thread of the parent is blocked in get() while it forks (its call is
  // not one of the child's calls in flight).
  shmray_test::Gate gate;
  auto held = shmray::task(gated).remote(gate.path(), 5);
  int held_value = 0;
  std::thread blocked;
  if (mode == "own_pool_busy") {
    blocked = std::thread([&] { held_value = shmray::get(held); });
    std::this_thread::sleep_for(100ms);
  } else {
    gate.open();
  }
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) return 21;
  if (pid == 0) {
    if (blocked.joinable()) blocked.detach();  // that thread is not in this process
    if (mode == "exit") std::exit(0);          // atexit handlers and static destructors run here
    if (mode == "return") return 0;            // main returns: the Session's destructor too
    if (mode == "api") return count_unrefused(ready, vec);
    if (mode == "refs") {
      inflight.clear();  // the last copies of the parent's refs die in the child
      ready = {};
      vec = {};
      return 0;
    }
    if (mode == "own_pool" || mode == "own_pool_busy") {
      // The child disowned the parent's pool; it may start one of its own (and stop it at
      // once: the parent's blocked call is not one of its calls in flight).
      if (!refuses("get before own init", [&] { (void)shmray::get(ready); })) return 30;
      shmray::init(kSmall);
      const int v = shmray::get(shmray::task(square).remote(7));
      if (!refuses("parent's ref after own init", [&] { (void)shmray::get(ready); })) return 31;
      const auto t0 = std::chrono::steady_clock::now();
      shmray::shutdown();
      const int rc = std::chrono::steady_clock::now() - t0 > 5s ? 33 : v == 49 ? 0 : 32;
      if (mode == "own_pool") return rc;
      // The blocked thread's stack is not scanned in the child: a leak checker would report
      // what it holds. Leave without exit handlers (the other modes cover those).
      std::fflush(nullptr);
      ::_exit(rc);
    }
    return 22;
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
  }
  gate.open();
  if (blocked.joinable()) {
    blocked.join();
    if (held_value != 5) return 27;
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "child status %d\n", status);
    return 23;
  }
  for (int i = 0; i < 4; ++i)
    if (shmray::get(inflight[i], 30s) != i * i) return 24;
  if (shmray::get(shmray::task(square).remote(ready), 30s) != 81) return 25;
  if (shmray::get_view(vec).size() != 3) return 26;
  return 0;
}
SHMRAY_TEST_ROLE("host_fork", host_fork_role);

// Runs this binary in a role; its wait status, or -1 when it did not end within `limit`.
int run_role(const std::string& role, const std::vector<std::string>& args, std::chrono::seconds limit = 60s) {
  const std::string exe = shmray::test::self_exe();
  std::vector<std::string> argv_s = {exe, "--shmray-role=" + role};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  REQUIRE(::posix_spawn(&pid, exe.c_str(), nullptr, nullptr, argv.data(), environ) == 0);
  const int pfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  REQUIRE(pfd >= 0);
  pollfd p{pfd, POLLIN, 0};
  const int ready = ::poll(&p, 1, static_cast<int>(std::chrono::milliseconds(limit).count()));
  ::close(pfd);
  if (ready <= 0) ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
  }
  return ready <= 0 ? -1 : status;
}

void check_host_fork(const std::string& mode) {
  shmray::test::NoLeaks leaks;
  CAPTURE(mode);
  const int status = run_role("host_fork", {mode});
  REQUIRE(status != -1);  // -1: hung
  CHECK_FALSE(WIFSIGNALED(status));
  if (WIFSIGNALED(status)) CAPTURE(WTERMSIG(status));
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("ForkSafety.HostChildThatExitsLeavesTheParentsPool" * doctest::timeout(90)) { check_host_fork("exit"); }

TEST_CASE("ForkSafety.HostChildThatReturnsFromMainLeavesTheParentsPool" * doctest::timeout(90)) {
  check_host_fork("return");  // also runs the child's copy of the Session destructor
}

TEST_CASE("ForkSafety.HostChildApiCallsThrowForkedProcessError" * doctest::timeout(90)) { check_host_fork("api"); }

TEST_CASE("ForkSafety.HostChildDroppingInheritedRefsLeavesThemAlive" * doctest::timeout(90)) {
  check_host_fork("refs");
}

// A child that starts its own pool starts threads after a fork of a threaded process, which
// ThreadSanitizer refuses by design ("starting new threads after multi-threaded fork is not
// supported"): these two run in the plain and ASan builds only.
#if defined(__SANITIZE_THREAD__)
constexpr bool kTsan = true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
constexpr bool kTsan = true;
#else
constexpr bool kTsan = false;
#endif
#else
constexpr bool kTsan = false;
#endif

TEST_CASE("ForkSafety.HostChildMayStartAPoolOfItsOwn" * doctest::timeout(90)) {
  if (kTsan) {
    MESSAGE("skipped under ThreadSanitizer: no new threads after a threaded fork");
    return;
  }
  check_host_fork("own_pool");
}

TEST_CASE("ForkSafety.HostChildForkedWhileAThreadWaitsMayStartAPool" * doctest::timeout(90)) {
  if (kTsan) {
    MESSAGE("skipped under ThreadSanitizer: no new threads after a threaded fork");
    return;
  }
  check_host_fork("own_pool_busy");
}

TEST_CASE("ForkSafety.InProcessChildLeavesThePool" * doctest::timeout(60)) {
  shmray::test::NoLeaks leaks;
  shmray::init(kSmall);
  auto ready = shmray::task(square).remote(4);
  REQUIRE(shmray::get(ready) == 16);
  auto vec = shmray::put(std::vector<int>{1});
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    const int bad = count_unrefused(ready, vec);
    std::fflush(nullptr);
    ::_exit(bad);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(shmray::get(shmray::task(square).remote(ready), 30s) == 256);
  CHECK(shmray::store_stats().objects >= 2);
  shmray::shutdown();
}

// ------------------------------------------------------------------ a task forks

// A task that forks. Its child tries the API; `own` is a child task it submitted, still queued
// (one worker: only this task runs), so a get() in the forked child would have claimed it.
// The child reports how many calls did not refuse, then exits or returns as `how` says.
int fork_in_task(int how) {
  auto own = shmray::task(square).remote(6);
  int fds[2];
  if (::pipe(fds) != 0) return -1;
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) return -2;
  if (pid == 0) {
    ::close(fds[0]);
    int bad = 0;
    bad += !refuses("task child get", [&] { (void)shmray::get(own); });
    bad += !refuses("task child wait", [&] { (void)shmray::wait(std::vector{own}); });
    bad += !refuses("task child remote", [&] { (void)shmray::task(square).remote(1); });
    bad += !refuses("task child put", [&] { (void)shmray::put(1); });
    bad += !refuses("task child cancel", [&] { shmray::cancel(own); });
    bad += !refuses("task child store_stats", [] { (void)shmray::store_stats(); });
    bad += !refuses("task child init", [] { shmray::init(kSmall); });
    shmray::shutdown();  // no-op
    { auto copy = own; }
    (void)!::write(fds[1], &bad, sizeof bad);
    ::close(fds[1]);
    if (how == 0) std::exit(0);
    if (how == 1) throw std::runtime_error("the child throws out of the task");
    return 1000;  // returns from the task function in the child
  }
  ::close(fds[1]);
  int bad = -100;
  if (::read(fds[0], &bad, sizeof bad) != static_cast<ssize_t>(sizeof bad)) bad = -3;
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return -4;
  return bad * 1000 + shmray::get(own);
}
SHMRAY_REMOTE(fork_in_task);

TEST_CASE("ForkSafety.ChildForkedByATaskRefusesTheApiAndClaimsNothing" * doctest::timeout(120)) {
  shmray::test::NoLeaks leaks;
  shmray::Session s({.num_workers = 1, .object_store_bytes = 64 << 20, .quiet = true, .max_workers = 1});
  for (int how : {0, 1, 2}) {
    CAPTURE(how);
    CHECK(shmray::get(shmray::task(fork_in_task).remote(how), 30s) == 36);
  }
  CHECK(shmray::get(shmray::task(square).remote(5), 30s) == 25);  // the worker goes on
}

}  // namespace
