// The fork server under a hostile host: killed, sent the host's signals (nohup's SIGHUP, a
// group-wide SIGTERM), run with SIGCHLD ignored, with a stdout nobody reads, with output
// without newlines, with fds 0-2 closed, under a pids limit. The pool recovers or fails
// with a named error, at once; nothing hangs, nothing raises SIGPIPE in the host. And
// workers start clean: no handler of the host runs in them, what the host ignores stays
// ignored. Cases that change process-wide state (dispositions, fds, rlimits, uid) run in a
// child role, this binary started again; its exit code says what went wrong.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <shmray/shmray.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>

#include "support/child_role.hpp"
#include "support/leak_check.hpp"
#include "support/procs.hpp"
#include "support/role_check.hpp"

namespace {

using namespace std::chrono_literals;
using shmray::test::check_role;
using Clock = std::chrono::steady_clock;

long twice_slowly(long i) {
  std::this_thread::sleep_for(2ms);
  return 2 * i;
}
SHMRAY_REMOTE(twice_slowly);

long twice(long i) { return 2 * i; }
SHMRAY_REMOTE(twice);

int crash() {
  ::raise(SIGKILL);
  return 0;
}
SHMRAY_REMOTE(crash);

volatile sig_atomic_t g_handler_ran = 0;
void host_handler(int) { g_handler_ran = 1; }

// Raises `sig` in the worker; returns whether a handler of the host ran.
int raise_and_report(int sig) {
  g_handler_ran = 0;
  ::raise(sig);
  return g_handler_ran;
}
SHMRAY_REMOTE(raise_and_report);

// Forks a child that exits with 7 and waits for it: works only when SIGCHLD is not ignored.
int child_exit_code() {
  const pid_t p = ::fork();
  if (p == 0) ::_exit(7);
  int status = 0;
  if (::waitpid(p, &status, 0) != p) return -errno;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1000;
}
SHMRAY_REMOTE(child_exit_code);

long print_lines(long bytes) {
  const std::string line(99, 'x');
  for (long done = 0; done < bytes; done += 100) std::printf("%s\n", line.c_str());
  std::fflush(stdout);
  return bytes;
}
SHMRAY_REMOTE(print_lines);

long print_without_newline(long bytes) {
  const std::string chunk(1 << 20, 'y');
  for (long done = 0; done < bytes; done += static_cast<long>(chunk.size()))
    std::fwrite(chunk.data(), 1, chunk.size(), stdout);
  std::fflush(stdout);
  return bytes;
}
SHMRAY_REMOTE(print_without_newline);

int fail(const std::string& what) {
  std::cerr << "role failed: " << what << std::endl;
  return 1;
}

// utime + stime of a process, in clock ticks (-1 when it is gone).
long cpu_ticks(int pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(f, line)) return -1;
  std::istringstream rest(line.substr(line.rfind(')') + 2));
  std::string field;
  long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stol(field);
    if (i == 15) stime = std::stol(field);
  }
  return utime + stime;
}

long peak_rss_kib(int pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(f, line);)
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

// The pool answers: a crash is reported as WorkerCrashedError, and a replacement runs tasks.
int crash_is_reported_and_replaced() {
  try {
    shmray::get(shmray::task(crash).options({.max_retries = 0}).remote(), 10s);
    return fail("the crashing task returned");
  } catch (const shmray::WorkerCrashedError&) {
  } catch (const std::exception& e) {
    return fail(std::string("crash gave ") + e.what());
  }
  try {
    if (shmray::get(shmray::task(twice).remote(21L), 10s) != 42) return fail("wrong value after the crash");
  } catch (const std::exception& e) {
    return fail(std::string("after the crash: ") + e.what());
  }
  return 0;
}

int shutdown_quickly() {
  const auto t0 = Clock::now();
  shmray::shutdown();
  if (Clock::now() - t0 > 5s) return fail("shutdown took more than 5 s");
  return 0;
}

// --- roles ---------------------------------------------------------------------------------

// A daemon-style host: SIGCHLD ignored (SIG_IGN, or a handler with SA_NOCLDWAIT).
int sigchld_role(bool nocldwait) {
  struct sigaction sa {};
  sigemptyset(&sa.sa_mask);
  sa.sa_handler = nocldwait ? host_handler : SIG_IGN;
  sa.sa_flags = nocldwait ? SA_NOCLDWAIT : 0;
  ::sigaction(SIGCHLD, &sa, nullptr);
  shmray::init({.num_workers = 2, .object_store_bytes = 16 << 20, .quiet = true});
  if (int rc = crash_is_reported_and_replaced()) return rc;
  // Workers get SIGCHLD back at its default: a task can wait for its own child.
  if (int code = shmray::get(shmray::task(child_exit_code).remote(), 10s); code != 7)
    return fail("a task's waitpid gave " + std::to_string(code));
  const int fs = shmray::test::fork_server_of();
  const long before = cpu_ticks(fs);
  std::this_thread::sleep_for(1s);
  const long used = cpu_ticks(fs) - before;  // spinning: 50-70 ticks; idle: 0
  if (before < 0 || used > 20) return fail("the fork server used " + std::to_string(used) + " ticks in 1 s");
  return shutdown_quickly();
}
int sigchld_ignored_role(const std::vector<std::string>&) { return sigchld_role(false); }
int sigchld_nocldwait_role(const std::vector<std::string>&) { return sigchld_role(true); }
SHMRAY_TEST_ROLE("sigchld_ignored", sigchld_ignored_role);
SHMRAY_TEST_ROLE("sigchld_nocldwait", sigchld_nocldwait_role);

// `kill -TERM -PGID` aimed at a host with a graceful SIGTERM handler.
int group_sigterm_role(const std::vector<std::string>&) {
  ::setpgid(0, 0);  // our own group, so the signal below reaches no test process
  ::signal(SIGTERM, host_handler);
  shmray::init({.num_workers = 2, .object_store_bytes = 16 << 20, .quiet = true});
  const int fs = shmray::test::fork_server_of();
  if (shmray::get(shmray::task(twice).remote(1L), 10s) != 2) return fail("first task");
  ::kill(0, SIGTERM);
  std::this_thread::sleep_for(200ms);
  if (!g_handler_ran) return fail("the host's handler did not run");
  if (shmray::test::fork_server_of() != fs) return fail("the fork server did not survive the group's SIGTERM");
  try {
    for (long i = 0; i < 20; ++i)
      if (shmray::get(shmray::task(twice).remote(i), 10s) != 2 * i) return fail("wrong value");
  } catch (const std::exception& e) {
    return fail(std::string("after SIGTERM: ") + e.what());
  }
  return shutdown_quickly();
}
SHMRAY_TEST_ROLE("group_sigterm", group_sigterm_role);

// shutdown() right after the fork server died, before anyone noticed.
int dead_fork_server_shutdown_role(const std::vector<std::string>&) {
  shmray::init({.num_workers = 2, .object_store_bytes = 16 << 20, .quiet = true});
  const int fs = shmray::test::fork_server_of();
  ::kill(fs, SIGKILL);
  while (shmray::test::process_alive(fs)) std::this_thread::yield();  // a zombie now
  return shutdown_quickly();                                          // SIGPIPE would end us with signal 13
}
SHMRAY_TEST_ROLE("dead_fork_server_shutdown", dead_fork_server_shutdown_role);

// Our stderr is a pipe whose reader is gone: the start-up line (and any warning) must not
// raise SIGPIPE in us.
int stderr_reader_gone_role(const std::vector<std::string>&) {
  int p[2];
  if (::pipe(p) != 0) return fail("pipe");
  ::dup2(p[1], STDERR_FILENO);
  ::close(p[1]);
  ::close(p[0]);
  shmray::init({.num_workers = 2, .object_store_bytes = 16 << 20});  // not quiet: prints the start-up line
  if (shmray::get(shmray::task(twice).remote(21L), 10s) != 42) return fail("wrong value");
  return shutdown_quickly();
}
SHMRAY_TEST_ROLE("stderr_reader_gone", stderr_reader_gone_role);

// Our stdout is a pipe nobody reads.
int undrained_stdout_role(const std::vector<std::string>&) {
  shmray::init({.num_workers = 2, .object_store_bytes = 16 << 20, .quiet = true});
  try {
    // 4 MiB of lines: far more than the pipe holds. The task finishes (its output is
    // dropped once our stdout has taken nothing for a while), and reports keep coming.
    if (shmray::get(shmray::task(print_lines).remote(4L << 20), 30s) != (4L << 20)) return fail("print_lines");
  } catch (const std::exception& e) {
    return fail(std::string("print_lines: ") + e.what());
  }
  if (int rc = crash_is_reported_and_replaced()) return rc;
  return shutdown_quickly();
}
SHMRAY_TEST_ROLE("undrained_stdout", undrained_stdout_role);

// 32 MiB without a newline, relayed to /dev/null.
int no_newlines_role(const std::vector<std::string>&) {
  shmray::init({.num_workers = 1, .object_store_bytes = 16 << 20, .quiet = true});
  const int fs = shmray::test::fork_server_of();
  const long rss_before = peak_rss_kib(fs);
  const auto t0 = Clock::now();
  try {
    shmray::get(shmray::task(print_without_newline).remote(32L << 20), 60s);
  } catch (const std::exception& e) {
    return fail(std::string("print_without_newline: ") + e.what());
  }
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  const long grew = peak_rss_kib(fs) - rss_before;
  std::cerr << "32 MiB without newlines: " << secs << " s, fork server peak RSS +" << grew << " KiB\n";
  if (grew > 8 * 1024) return fail("the fork server grew by " + std::to_string(grew) + " KiB");
  if (secs > 30) return fail("relaying took " + std::to_string(secs) + " s");
  return shutdown_quickly();
}
SHMRAY_TEST_ROLE("no_newlines", no_newlines_role);

// A host started with stdin, stdout and stderr closed, which still writes to fd 1 and 2
// (a logger, say) while workers crash and are replaced. A library descriptor on fd 0-2
// would take those bytes in the middle of its requests.
int closed_stdio_role(const std::vector<std::string>&) {
  for (int fd = 0; fd <= 2; ++fd) ::close(fd);
  shmray::init({.num_workers = 1, .object_store_bytes = 16 << 20});  // not quiet: its line goes to fd 2
  std::atomic<bool> stop{false};
  std::thread noise([&] {
    const std::string burst(63, 'x');  // not a multiple of 8: shifts any 8-byte framing
    while (!stop) {
      for (int fd = 1; fd <= 2; ++fd) (void)!::write(fd, burst.data(), burst.size());
      std::this_thread::sleep_for(100us);
    }
  });
  int rc = 0;
  for (int round = 0; round < 8 && rc == 0; ++round)
    if (crash_is_reported_and_replaced()) rc = 10 + round;  // stderr is closed: the code says it
  stop = true;
  noise.join();
  return rc ? rc : shutdown_quickly();
}
SHMRAY_TEST_ROLE("closed_stdio", closed_stdio_role);

// A pids limit with room for the fork server and one of two workers. Root is not held to
// RLIMIT_NPROC: run as an unused uid, so only our own processes count.
int pids_limit_role(const std::vector<std::string>&) {
  const uid_t uid = 61000 + static_cast<uid_t>(::getpid() % 4000);
  if (::getuid() == 0 && ::setresuid(uid, uid, uid) != 0) return fail("setresuid");
  rlimit rl{3, 3};  // us, the fork server, one worker
  if (::setrlimit(RLIMIT_NPROC, &rl) != 0) return fail("setrlimit");
  const auto t0 = Clock::now();
  try {
    shmray::init({.num_workers = 2, .object_store_bytes = 16 << 20, .quiet = true});
    return fail("init succeeded");
  } catch (const shmray::PoolError& e) {
    const std::string what = e.what();
    std::cerr << "init: " << what << "\n";
    if (what.find(std::strerror(EAGAIN)) == std::string::npos) return fail("no errno in: " + what);
    if (what.find("pids limit") == std::string::npos) return fail("no advice in: " + what);
  } catch (const std::exception& e) {
    return fail(std::string("init threw another error: ") + e.what());
  }
  if (Clock::now() - t0 > 5s) return fail("init took more than 5 s to fail");
  return 0;
}
SHMRAY_TEST_ROLE("pids_limit", pids_limit_role);

// Forks start failing after init (the fork server's RLIMIT_NPROC lowered under it): once
// the only worker is gone, a queued task fails with PoolError naming the errno, and so do
// later submissions, instead of waiting while the fork server retries in a hot loop.
int fork_fails_later_role(const std::vector<std::string>&) {
  const uid_t uid = 61000 + static_cast<uid_t>(::getpid() % 4000);
  if (::getuid() == 0 && ::setresuid(uid, uid, uid) != 0) return fail("setresuid");
  shmray::init({.num_workers = 1, .object_store_bytes = 16 << 20, .quiet = true});
  const int fs = shmray::test::fork_server_of();
  const rlimit rl{1, 1};  // fewer than our own processes: every fork fails
  if (::prlimit(fs, RLIMIT_NPROC, &rl, nullptr) != 0) return fail("prlimit");
  try {
    shmray::get(shmray::task(crash).options({.max_retries = 0}).remote(), 10s);
    return fail("the crashing task returned");
  } catch (const shmray::WorkerCrashedError&) {
  }
  auto queued = shmray::task(twice).remote(1L);
  const auto t0 = Clock::now();
  try {
    shmray::get(queued, 20s);
    return fail("a task ran without a worker");
  } catch (const shmray::PoolError& e) {
    if (std::string(e.what()).find(std::strerror(EAGAIN)) == std::string::npos)
      return fail(std::string("no errno in: ") + e.what());
  } catch (const std::exception& e) {
    return fail(std::string("the queued task gave ") + e.what());
  }
  if (Clock::now() - t0 > 10s) return fail("the queued task failed late");
  try {
    (void)shmray::task(twice).remote(2L);
    return fail("submit after the pool broke");
  } catch (const shmray::PoolError&) {
  }
  return shutdown_quickly();
}
SHMRAY_TEST_ROLE("fork_fails_later", fork_fails_later_role);

}  // namespace

TEST_CASE("ForkServer.SigkillMidWorkloadLosesNothing" * doctest::timeout(120)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 2, .object_store_bytes = 64 << 20, .quiet = true});
  const int fs = shmray::test::fork_server_of();
  REQUIRE(fs > 0);
  std::vector<shmray::ObjectRef<long>> refs;
  for (long i = 0; i < 400; ++i) refs.push_back(shmray::task(twice_slowly).remote(i));
  std::this_thread::sleep_for(100ms);
  ::kill(fs, SIGKILL);
  const auto t0 = Clock::now();
  for (long i = 0; i < 400; ++i) {
    long v = -1;
    CHECK_NOTHROW(v = shmray::get(refs[static_cast<std::size_t>(i)], 30s));
    CHECK(v == 2 * i);
  }
  CHECK(Clock::now() - t0 < 30s);
  // A new fork server serves new work; the old one's workers are gone.
  const int fs2 = shmray::test::fork_server_of();
  CHECK(fs2 > 0);
  CHECK(fs2 != fs);
  CHECK(shmray::get(shmray::task(twice).remote(5L), 10s) == 10);
  // Each slot has exactly one process again: two sharing a slot would share its rings and
  // its arena owner, and write over each other's results.
  for (long i = 0; i < 200; ++i) CHECK(shmray::get(shmray::task(twice).remote(i), 10s) == 2 * i);
  const auto until = Clock::now() + 10s;
  while (shmray::test::workers_of(0).size() != 2 && Clock::now() < until) std::this_thread::sleep_for(5ms);
  CHECK(shmray::test::workers_of(0).size() == 2);
  for (long i = 0; i < 200; ++i) CHECK(shmray::get(shmray::task(twice).remote(i), 10s) == 2 * i);
  CHECK(shmray::test::workers_of(0).size() == 2);
  const auto t1 = Clock::now();
  shmray::shutdown();
  CHECK(Clock::now() - t1 < 5s);
}

TEST_CASE("ForkServer.RepeatedDeathsFailWithPoolError" * doctest::timeout(120)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 1, .object_store_bytes = 16 << 20, .quiet = true});
  // Kill every fork server as soon as it appears: after a few restarts the pool gives up,
  // and both pending and new tasks fail with PoolError instead of hanging.
  auto pending = shmray::task(twice_slowly).remote(1L);
  std::vector<shmray::ObjectRef<long>> later;
  const auto until = Clock::now() + 60s;
  bool gave_up = false;
  while (!gave_up && Clock::now() < until) {
    if (int fs = shmray::test::fork_server_of(); fs > 0) ::kill(fs, SIGKILL);
    try {
      later.push_back(shmray::task(twice_slowly).remote(2L));
    } catch (const shmray::PoolError& e) {
      gave_up = true;
      CHECK(std::string(e.what()).find("fork server died") != std::string::npos);
    }
    std::this_thread::sleep_for(5ms);
  }
  REQUIRE(gave_up);
  // Each of these finished before the end, or failed with the named error (or ran out of
  // retries, each death of the fork server costing one): none hangs.
  auto settled = [](shmray::ObjectRef<long>& r, long expect) {
    try {
      const long v = shmray::get(r, 10s);
      CHECK(v == expect);
    } catch (const shmray::PoolError&) {
    } catch (const shmray::WorkerCrashedError&) {
    }
  };
  for (auto& r : later) settled(r, 4);
  settled(pending, 2);
  const auto t1 = Clock::now();
  shmray::shutdown();
  CHECK(Clock::now() - t1 < 5s);
  // A fresh init starts a fresh pool.
  shmray::init({.num_workers = 1, .object_store_bytes = 16 << 20, .quiet = true});
  CHECK(shmray::get(shmray::task(twice).remote(4L), 10s) == 8);
}

TEST_CASE("ForkServer.NohupSighupIsKeptIgnored" * doctest::timeout(60)) {
  shmray::test::NoLeaks guard;
  struct sigaction old {};
  ::sigaction(SIGHUP, nullptr, &old);
  ::signal(SIGHUP, SIG_IGN);  // as under nohup
  shmray::init({.num_workers = 2, .object_store_bytes = 16 << 20, .quiet = true});
  const int fs = shmray::test::fork_server_of();
  const auto workers = shmray::test::workers_of();
  REQUIRE(workers.size() == 2);
  ::kill(fs, SIGHUP);
  for (int w : workers) ::kill(w, SIGHUP);
  std::this_thread::sleep_for(200ms);
  CHECK(shmray::test::fork_server_of() == fs);
  for (int w : workers) CHECK(shmray::test::process_alive(w));
  CHECK(shmray::get(shmray::task(raise_and_report).remote(int(SIGHUP)), 10s) == 0);
  shmray::shutdown();
  ::sigaction(SIGHUP, &old, nullptr);
}

TEST_CASE("ForkServer.OwnProcessGroupSurvivesGroupSigterm" * doctest::timeout(60)) { check_role("group_sigterm"); }

TEST_CASE("ForkServer.HostIgnoringSigchldStillSeesCrashes" * doctest::timeout(60)) {
  check_role("sigchld_ignored");
  check_role("sigchld_nocldwait");
}

TEST_CASE("ForkServer.ShutdownAfterItsDeathRaisesNoSigpipe" * doctest::timeout(60)) {
  check_role("dead_fork_server_shutdown");
}

TEST_CASE("ForkServer.StderrWithoutAReaderRaisesNoSigpipe" * doctest::timeout(60)) { check_role("stderr_reader_gone"); }

TEST_CASE("ForkServer.UndrainedStdoutKeepsReportsAndShutdownFast" * doctest::timeout(120)) {
  int p[2];
  REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
  // The role's stdout: the write end; we hold the read end open and never read it.
  const int w = ::fcntl(p[1], F_DUPFD, 3);  // without O_CLOEXEC: the role must inherit it
  ::close(p[1]);
  check_role("undrained_stdout", w, 90s);
  ::close(w);
  ::close(p[0]);
}

TEST_CASE("ForkServer.OutputWithoutNewlinesIsBounded" * doctest::timeout(120)) { check_role("no_newlines", -1, 90s); }

TEST_CASE("ForkServer.HostWithClosedStdioReplacesCrashedWorkers" * doctest::timeout(90)) { check_role("closed_stdio"); }

TEST_CASE("ForkServer.PidsLimitFailsInitAtOnceWithErrno" * doctest::timeout(90)) { check_role("pids_limit"); }

TEST_CASE("ForkServer.ForkFailuresAfterInitFailQueuedTasks" * doctest::timeout(90)) { check_role("fork_fails_later"); }

TEST_CASE("Workers.HostHandlersDoNotRunInWorkers" * doctest::timeout(60)) {
  shmray::test::NoLeaks guard;
  struct sigaction old[3]{};
  const int sigs[3] = {SIGWINCH, SIGALRM, SIGUSR1};
  for (int i = 0; i < 3; ++i) {
    struct sigaction sa {};
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = host_handler;
    ::sigaction(sigs[i], &sa, &old[i]);
  }
  shmray::init({.num_workers = 2, .object_store_bytes = 16 << 20, .quiet = true});
  // SIGWINCH's default is to ignore it: the task goes on, without the host's handler.
  CHECK(shmray::get(shmray::task(raise_and_report).remote(int(SIGWINCH)), 10s) == 0);
  // SIGALRM's and SIGUSR1's default end the process: the task's worker dies of it.
  for (int sig : {SIGALRM, SIGUSR1}) {
    CAPTURE(sig);
    try {
      shmray::get(shmray::task(raise_and_report).options({.max_retries = 0}).remote(sig), 10s);
      FAIL("the host's handler ran in the worker");
    } catch (const shmray::WorkerCrashedError& e) {
      CHECK(std::string(e.what()).find(std::string("SIG") + sigabbrev_np(sig)) != std::string::npos);
    }
  }
  shmray::shutdown();
  for (int i = 0; i < 3; ++i) ::sigaction(sigs[i], &old[i], nullptr);
}

TEST_CASE("Workers.HostIgnoredSignalsStayIgnored" * doctest::timeout(60)) {
  shmray::test::NoLeaks guard;
  struct sigaction old[3]{};
  const int sigs[3] = {SIGUSR2, SIGALRM, SIGRTMIN + 3};
  for (int i = 0; i < 3; ++i) {
    struct sigaction sa {};
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = SIG_IGN;
    ::sigaction(sigs[i], &sa, &old[i]);
  }
  shmray::init({.num_workers = 2, .object_store_bytes = 16 << 20, .quiet = true});
  for (int sig : sigs) {
    CAPTURE(sig);
    CHECK(shmray::get(shmray::task(raise_and_report).options({.max_retries = 0}).remote(sig), 10s) == 0);
  }
  shmray::shutdown();
  for (int i = 0; i < 3; ++i) ::sigaction(sigs[i], &old[i], nullptr);
}
