// An error that reaches the caller through tasks that get() a failed child keeps its cause:
// the thrown type, message, function and pid of the task that threw, and lists the tasks it
// passed through. Through an argument dependency (the dependent task never runs) the caller
// sees the same cause. Public headers only.
#include <doctest/doctest.h>
#include <unistd.h>

#include <shmray/shmray.hpp>

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/leak_check.hpp"

using namespace std::chrono_literals;

namespace {

int bar(int) { throw std::domain_error("boom"); }
SHMRAY_REMOTE(bar);

int foo(int x) { return shmray::get(shmray::task(bar).remote(x)) + 1; }  // nested get
SHMRAY_REMOTE(foo);

int foo_wait(int x) {  // wait, then get
  std::vector<shmray::ObjectRef<int>> refs{shmray::task(bar).remote(x)};
  auto [ready, rest] = shmray::wait(refs, {.num_returns = 1});
  return shmray::get(ready.front());
}
SHMRAY_REMOTE(foo_wait);

int plus_one(int x) { return x + 1; }
SHMRAY_REMOTE(plus_one);

int top(int x) { return shmray::get(shmray::task(foo).remote(x)); }  // 3 levels: top -> foo -> bar
SHMRAY_REMOTE(top);

int named_middle(int x) { return shmray::get(shmray::task(bar).options({.name = "inner-bar"}).remote(x)); }
SHMRAY_REMOTE(named_middle);

int deep(int d) {
  if (d == 0) throw std::domain_error("at the bottom");
  return shmray::get(shmray::task(deep).remote(d - 1));
}
SHMRAY_REMOTE(deep);

int crash(int) { ::_exit(9); }
SHMRAY_REMOTE(crash);

// Gets a ref the caller passes (a child run inline in this process would take it down with
// it, which is another matter: the test lets the crash happen first, in its own worker).
int get_crashed(shmray::ObjectRef<int> crashed) { return shmray::get(crashed); }
SHMRAY_REMOTE(get_crashed);

int get_list(int x) {  // get of a list inside a task
  return shmray::get(std::vector<shmray::ObjectRef<int>>{shmray::task(plus_one).remote(x), shmray::task(bar).remote(x)})
      .front();
}
SHMRAY_REMOTE(get_list);

const shmray::Options kOpts{.num_workers = 2, .object_store_bytes = 64 << 20, .quiet = true};

shmray::TaskError task_error_of(const shmray::ObjectRef<int>& r) {
  try {
    (void)shmray::get(r, 30s);
  } catch (const shmray::TaskError& e) {
    return e;
  }
  FAIL("no TaskError");
  return shmray::TaskError("", "", "", 0);
}

void check_cause(const shmray::TaskError& e, int bar_pid) {
  CHECK(e.type_name() == "std::domain_error");
  CHECK(e.message() == "boom");
  CHECK(e.function() == "bar");
  CHECK(e.task_name() == "bar");
  CHECK(e.pid() > 0);
  if (bar_pid) CHECK(e.pid() == bar_pid);
}

}  // namespace

TEST_CASE("ErrorCause.NestedGetKeepsTheOriginalError" * doctest::timeout(60)) {
  shmray::test::NoLeaks guard;
  shmray::init(kOpts);
  const shmray::TaskError e = task_error_of(shmray::task(foo).remote(1));
  check_cause(e, 0);
  CHECK(e.via() == std::vector<std::string>{"foo"});
  CHECK(std::string(e.what()) == "bar raised std::domain_error: boom (via foo)");
  const shmray::TaskError w = task_error_of(shmray::task(foo_wait).remote(1));
  check_cause(w, 0);
  CHECK(w.via() == std::vector<std::string>{"foo_wait"});
  const shmray::TaskError l = task_error_of(shmray::task(get_list).remote(1));
  check_cause(l, 0);
  CHECK(l.via() == std::vector<std::string>{"get_list"});
}

TEST_CASE("ErrorCause.ArgumentDependencyAndNestedGetGiveTheSameCause" * doctest::timeout(60)) {
  shmray::test::NoLeaks guard;
  shmray::init(kOpts);
  shmray::ObjectRef<int> failed = shmray::task(bar).remote(1);
  const shmray::TaskError direct = task_error_of(failed);
  check_cause(direct, 0);
  CHECK(direct.via().empty());
  // Through an argument: plus_one never runs; the caller sees bar's error as it is.
  const shmray::TaskError through_arg = task_error_of(shmray::task(plus_one).remote(failed));
  check_cause(through_arg, direct.pid());
  CHECK(through_arg.via().empty());
  CHECK(std::string(through_arg.what()) == "bar raised std::domain_error: boom");
  // Through a nested get: the same cause, plus where it passed.
  const shmray::TaskError through_get = task_error_of(shmray::task(foo).remote(1));
  check_cause(through_get, 0);
  CHECK(through_get.via() == std::vector<std::string>{"foo"});
  // And a task depending on the one that failed through get: the same again.
  const shmray::TaskError both = task_error_of(shmray::task(plus_one).remote(shmray::task(foo).remote(2)));
  check_cause(both, 0);
  CHECK(both.via() == std::vector<std::string>{"foo"});
}

TEST_CASE("ErrorCause.ThreeLevelsDeep" * doctest::timeout(60)) {
  shmray::test::NoLeaks guard;
  shmray::init(kOpts);
  const shmray::TaskError e = task_error_of(shmray::task(top).remote(1));
  check_cause(e, 0);
  CHECK(e.via() == std::vector<std::string>{"foo", "top"});
  CHECK(std::string(e.what()) == "bar raised std::domain_error: boom (via foo, top)");
  // A name given to the inner task stays with the cause; the via list uses the names too.
  const shmray::TaskError n = task_error_of(shmray::task(named_middle).options({.name = "mid"}).remote(1));
  CHECK(n.function() == "bar");
  CHECK(n.task_name() == "inner-bar");
  CHECK(n.via() == std::vector<std::string>{"mid"});
  CHECK(std::string(n.what()) == "inner-bar (bar) raised std::domain_error: boom (via mid)");
}

TEST_CASE("ErrorCause.AVeryDeepChainKeepsBothEndsOfTheList" * doctest::timeout(120)) {
  shmray::test::NoLeaks guard;
  shmray::init(kOpts);
  const shmray::TaskError e = task_error_of(shmray::task(deep).remote(200));
  CHECK(e.type_name() == "std::domain_error");
  CHECK(e.message() == "at the bottom");
  CHECK(e.function() == "deep");
  REQUIRE(e.via().size() == 64);  // bounded: the record does not grow with the depth
  CHECK(e.via()[32] == "...");
  CHECK(e.via().front() == "deep");
  CHECK(e.via().back() == "deep");
}

TEST_CASE("ErrorCause.CrashedChildStaysWorkerCrashedError" * doctest::timeout(60)) {
  shmray::test::NoLeaks guard;
  shmray::init(kOpts);
  auto crashed = shmray::task(crash).options({.max_retries = 0}).remote(1);
  CHECK_THROWS_AS(shmray::get(crashed, 30s), shmray::WorkerCrashedError);
  try {
    (void)shmray::get(shmray::task(get_crashed).remote(crashed), 30s);
    FAIL("no exception");
  } catch (const shmray::WorkerCrashedError& e) {
    const std::string what = e.what();
    CHECK(what.find("running crash") != std::string::npos);
    CHECK(what.find("(via get_crashed)") != std::string::npos);
  } catch (const std::exception& e) {
    FAIL("wrong exception: " << std::string(e.what()));
  }
  // The pool goes on.
  CHECK(shmray::get(shmray::task(plus_one).remote(1), 30s) == 2);
}
