// Issue 15, section 3: worker log lines name their task, shmray's own messages reach a log
// sink (Options::log_sink), and the progress line. Workers are killed: process suite.
#include <doctest/doctest.h>

#include <shmray/shmray.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "api/gate.hpp"
#include "support/capture_fd.hpp"
#include "support/leak_check.hpp"

using namespace std::chrono_literals;

namespace {

using shmray::test::CaptureFd;

/// The whole line of `text` that contains `needle` (empty when none does).
std::string line_with(const std::string& text, const std::string& needle) {
  const auto at = text.find(needle);
  if (at == std::string::npos) return {};
  const auto start = text.rfind('\n', at);
  const auto end = text.find('\n', at);
  return text.substr(start == std::string::npos ? 0 : start + 1, end == std::string::npos ? end : end - start - 1);
}

/// "(pid=<digits>, task=NAME) " at the start of `line`.
bool named_prefix(const std::string& line, const std::string& name) {
  if (line.rfind("(pid=", 0) != 0) return false;
  std::size_t i = 5;
  while (i < line.size() && line[i] >= '0' && line[i] <= '9') ++i;
  const std::string rest = ", task=" + name + ") ";
  return i > 5 && line.compare(i, rest.size(), rest) == 0;
}

int say(int x) {
  std::printf("line of a task %d\n", x);  // stdout is line-buffered in a worker
  return x;
}
SHMRAY_REMOTE(say);

int say_after_inner(int x) {
  const int inner = shmray::get(shmray::task(say).remote(x + 1));  // with one worker: run inline
  std::fprintf(stderr, "outer line after inner %d\n", inner);
  return inner;
}
SHMRAY_REMOTE(say_after_inner);

int die(int x) {
  ::raise(SIGKILL);  // the worker process dies in the middle of its task
  return x;
}
SHMRAY_REMOTE(die);

int square(int x) { return x * x; }
SHMRAY_REMOTE(square);

struct Messages {
  std::mutex mu;
  std::vector<std::pair<shmray::LogLevel, std::string>> all;
  std::string find(shmray::LogLevel level, const std::string& needle) {
    std::lock_guard lock(mu);
    for (const auto& [l, m] : all)
      if (l == level && m.find(needle) != std::string::npos) return m;
    return {};
  }
};

}  // namespace

TEST_CASE("Observe.WorkerLinesNameTheirTask" * doctest::timeout(60)) {
  shmray::test::NoLeaks guard;
  CaptureFd out(1);
  CaptureFd err(2);
  shmray::init({.num_workers = 1, .object_store_bytes = 64 << 20, .quiet = true});
  auto seen = [&](CaptureFd& c, const std::string& s) {
    return shmray_test::eventually([&] { return c.text().find(s) != std::string::npos; });
  };
  REQUIRE(shmray::get(shmray::task(say).remote(1)) == 1);
  // Each line is waited for before the next task: a line still in the pipe when the worker
  // has started another task may carry that task's name (see worker/output_relay.hpp).
  const bool first = seen(out, "line of a task 1\n");
  REQUIRE(shmray::get(shmray::task(say).options({.name = "greeting"}).remote(2)) == 2);
  const bool second = seen(out, "line of a task 2\n");
  // The outer task's name again once the task it ran inline returned.
  REQUIRE(shmray::get(shmray::task(say_after_inner).remote(10)) == 11);
  const bool third = seen(err, "outer line after inner 11\n");
  shmray::shutdown();
  err.restore();
  out.restore();
  const std::string o = out.text(), e = err.text();
  CAPTURE(o);
  CAPTURE(e);
  CHECK(first);
  CHECK(second);
  CHECK(third);
  CHECK(named_prefix(line_with(o, "line of a task 1"), "say"));
  CHECK(named_prefix(line_with(o, "line of a task 2"), "greeting"));  // TaskOptions::name wins
  CHECK(named_prefix(line_with(e, "outer line after inner 11"), "say_after_inner"));
}

TEST_CASE("Observe.LogSinkGetsTheStartupLineAndCrashReports" * doctest::timeout(60)) {
  shmray::test::NoLeaks guard;
  auto got = std::make_shared<Messages>();
  CaptureFd err(2);
  shmray::init({.num_workers = 2,
                .object_store_bytes = 64 << 20,
                .log_sink = [got](shmray::LogLevel level, std::string_view line) {
                  std::lock_guard lock(got->mu);
                  got->all.emplace_back(level, std::string(line));
                }});
  CHECK(got->find(shmray::LogLevel::info, "shmray: started 2 workers, 64 MiB object store") != "");
  // A crash with a retry left, then one without: a warning, then an error.
  auto retried = shmray::task(die).options({.name = "doomed", .max_retries = 1}).remote(1);
  CHECK_THROWS_AS(shmray::get(retried, 30s), shmray::WorkerCrashedError);
  const std::string warning = got->find(shmray::LogLevel::warning, "running the task again (retry 1 of 1)");
  const std::string error = got->find(shmray::LogLevel::error, "WorkerCrashedError");
  CAPTURE(warning);
  CAPTURE(error);
  CHECK(warning.find("running doomed (die)") != std::string::npos);
  CHECK(warning.find("killed by signal 9 (SIGKILL)") != std::string::npos);
  CHECK(error.find("no retry was left (max_retries=1)") != std::string::npos);
  CHECK(shmray::get(shmray::task(square).remote(3), 30s) == 9);  // the pool goes on
  shmray::shutdown();
  err.restore();
  const std::string e = err.text();
  CAPTURE(e);
  CHECK(e.find("shmray:") == std::string::npos);  // all of it went to the sink, none to stderr
  CHECK(got.use_count() == 1);                    // shutdown() dropped the sink
}

TEST_CASE("Observe.ASinkThatThrowsBreaksNothing" * doctest::timeout(60)) {
  shmray::test::NoLeaks guard;
  auto calls = std::make_shared<std::atomic<int>>(0);
  CaptureFd err(2);
  shmray::init(
      {.num_workers = 2, .object_store_bytes = 64 << 20, .log_sink = [calls](shmray::LogLevel, std::string_view) {
         calls->fetch_add(1);
         throw std::runtime_error("a logging backend that fails");
       }});
  CHECK(calls->load() >= 1);  // the start-up line: thrown, caught, dropped
  // A crash report raised on the event thread: the sink throws there too.
  CHECK_THROWS_AS(shmray::get(shmray::task(die).options({.max_retries = 0}).remote(1), 30s),
                  shmray::WorkerCrashedError);
  CHECK(shmray_test::eventually([&] { return calls->load() >= 2; }));
  std::vector<shmray::ObjectRef<int>> refs;
  for (int i = 0; i < 20; ++i) refs.push_back(shmray::task(square).remote(i));
  CHECK(shmray::get(refs, 30s).back() == 361);
  shmray::shutdown();
  err.restore();
  const std::string e = err.text();
  CAPTURE(e);
  CHECK(e.find("shmray:") == std::string::npos);  // dropped, not sent to stderr instead
}

TEST_CASE("Observe.ProgressOnANonTerminalPrintsPlainLines" * doctest::timeout(60)) {
  shmray::test::NoLeaks guard;
  std::string every, final_only;
  {
    CaptureFd err(2);
    {
      shmray::ProgressBar bar(3, {.label = "demo", .interval = 0ms});  // a line per update
      bar.update();
      bar.update(5);  // the count stops at the total
      CHECK(bar.done() == 3);
    }
    err.restore();
    every = err.text();
  }
  CAPTURE(every);
  CHECK(every.find('\r') == std::string::npos);  // no redraw in place: a log file stays readable
  CHECK(every.find('\x1b') == std::string::npos);
  CHECK(every.find("demo: 1/3 (33%), ") != std::string::npos);
  CHECK(every.find("demo: 3/3 (100%), ") != std::string::npos);
  CHECK(every.find(" elapsed\n") != std::string::npos);  // the final line, at destruction
  CHECK(every.back() == '\n');

  shmray::init({.num_workers = 2, .object_store_bytes = 64 << 20, .quiet = true});
  std::vector<shmray::ObjectRef<int>> refs;
  for (int i = 0; i < 10; ++i) refs.push_back(shmray::task(square).remote(i));
  {
    CaptureFd err(2);
    shmray::progress(refs, {.label = "squares"});  // the default interval: 5 s between lines
    err.restore();
    final_only = err.text();
  }
  CAPTURE(final_only);
  CHECK(shmray::get(refs, 1s).back() == 81);  // every ref was final when progress() returned
  CHECK(final_only.rfind("squares: 10/10 (100%), ", 0) == 0);
  CHECK(final_only.find(" elapsed\n") != std::string::npos);
  shmray::shutdown();
}

TEST_CASE("Observe.ProgressOnATerminalRedrawsOneLine" * doctest::timeout(60)) {
  const int master = ::posix_openpt(O_RDWR | O_NOCTTY);
  REQUIRE(master >= 0);
  REQUIRE(::grantpt(master) == 0);
  REQUIRE(::unlockpt(master) == 0);
  const int pty = ::open(::ptsname(master), O_RDWR | O_NOCTTY);
  REQUIRE(pty >= 0);
  std::fflush(nullptr);
  const int saved = ::dup(2);
  REQUIRE(::dup2(pty, 2) == 2);
  {
    shmray::ProgressBar bar(4, {.label = "tty"});
    for (int i = 0; i < 4; ++i) bar.update();
  }
  ::dup2(saved, 2);
  ::close(saved);
  ::close(pty);
  std::string text;
  char buf[4096];
  pollfd p{master, POLLIN, 0};
  while (::poll(&p, 1, 100) == 1 && (p.revents & POLLIN)) {
    const ssize_t n = ::read(master, buf, sizeof buf);
    if (n <= 0) break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  ::close(master);
  CAPTURE(text);
  CHECK(text.rfind("\rtty: 0/4 [>                   ]   0%", 0) == 0);  // drawn at once, then in place
  CHECK(text.find("\rtty: 4/4 [====================] 100% ") != std::string::npos);
  CHECK(text.find(" elapsed\x1b[K") != std::string::npos);
  CHECK(text.find('\n') == text.size() - 1);  // one newline, at the very end (the pty makes it \r\n)
}
