// Errors at the edges: TaskOptions::name in error messages and TaskError::task_name(), an
// error message larger than the store, an exception whose what() returns null, and values
// whose save() throws (arguments and put). Public headers only.
#include <doctest/doctest.h>
#include <unistd.h>

#include <shmray/shmray.hpp>

#include <chrono>
#include <exception>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "api/gate.hpp"
#include "support/leak_check.hpp"

using namespace std::chrono_literals;

namespace {

int slow_square(int x) {
  if (x < 0) throw std::logic_error("boom");
  return x * x;
}
SHMRAY_REMOTE(slow_square);

int crash(int) { ::_exit(5); }
SHMRAY_REMOTE(crash);

int wait_gate(std::string gate) {
  shmray_test::wait_for_gate(gate);
  return 0;
}
SHMRAY_REMOTE(wait_gate);

int huge_message(std::size_t n) { throw std::runtime_error(std::string(n, 'm')); }
SHMRAY_REMOTE(huge_message);

struct NullWhat : std::exception {
  const char* what() const noexcept override { return nullptr; }
};
int null_what(int) { throw NullWhat(); }
SHMRAY_REMOTE(null_what);

/// save() throws: at once, or only on the n-th call (the write pass after sizing).
struct Unsavable {
  int fail_on_call = 1;
  std::vector<int> payload;
  mutable int calls = 0;
  template <class A>
  void save(A& ar) const {
    if (++calls >= fail_on_call) throw std::runtime_error("cannot save this");
    ar(payload);
  }
  template <class A>
  void load(A& ar) {
    ar(payload);
  }
};

int takes_unsavable(int, Unsavable u) { return static_cast<int>(u.payload.size()); }
SHMRAY_REMOTE(takes_unsavable);

// put of an unsavable value inside a task: a SerializationError the task can catch.
std::string put_inside(int fail_on_call) {
  try {
    (void)shmray::put(Unsavable{fail_on_call, std::vector<int>(100, 1)});
    return "no exception";
  } catch (const shmray::SerializationError& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("wrong type: ") + e.what();
  }
}
SHMRAY_REMOTE(put_inside);

const shmray::Options kOpts{.num_workers = 2, .object_store_bytes = 16 << 20, .quiet = true};

void pool_works() { CHECK(shmray::get(shmray::task(slow_square).remote(3), 30s) == 9); }

}  // namespace

TEST_CASE("ErrorEdges.TaskNameInErrors" * doctest::timeout(60)) {
  shmray::test::NoLeaks guard;
  shmray::init(kOpts);
  try {
    (void)shmray::get(shmray::task(slow_square).options({.name = "sq"}).remote(-1), 30s);
    FAIL("no exception");
  } catch (const shmray::TaskError& e) {
    CHECK(e.task_name() == "sq");
    CHECK(e.function() == "slow_square");
    CHECK(std::string(e.what()) == "sq (slow_square) raised std::logic_error: boom");
  }
  // Without a name: the function's, and the old format.
  try {
    (void)shmray::get(shmray::task(slow_square).remote(-1), 30s);
    FAIL("no exception");
  } catch (const shmray::TaskError& e) {
    CHECK(e.task_name() == "slow_square");
    CHECK(std::string(e.what()) == "slow_square raised std::logic_error: boom");
  }
  // A crash names it.
  CHECK_THROWS_WITH_AS(shmray::get(shmray::task(crash).options({.name = "crasher", .max_retries = 0}).remote(1), 30s),
                       doctest::Contains("running crasher (crash) (pid"), shmray::WorkerCrashedError);
  // A cancel names it (queued behind two busy workers, and running).
  shmray_test::Gate gate;
  auto a = shmray::task(wait_gate).options({.name = "blocker"}).remote(gate.path());
  auto b = shmray::task(wait_gate).options({.name = "blocker"}).remote(gate.path());
  auto queued = shmray::task(slow_square).options({.name = "later"}).remote(2);
  shmray::cancel(queued);
  CHECK_THROWS_WITH_AS(shmray::get(queued, 30s), doctest::Contains("the task later (slow_square) of ObjectRef("),
                       shmray::TaskCancelledError);
  shmray::cancel(a, {.force = true});
  CHECK_THROWS_WITH_AS(shmray::get(a, 30s), doctest::Contains("the task blocker (wait_gate) of ObjectRef("),
                       shmray::TaskCancelledError);
  gate.open();
  CHECK(shmray::get(b, 30s) == 0);
  pool_works();
}

TEST_CASE("ErrorEdges.MessageLargerThanTheStoreIsTruncated" * doctest::timeout(60)) {
  shmray::test::NoLeaks guard;
  shmray::init(kOpts);  // 16 MiB store
  const std::size_t n = std::size_t{32} << 20;
  try {
    (void)shmray::get(shmray::task(huge_message).remote(n), 30s);
    FAIL("no exception");
  } catch (const shmray::TaskError& e) {
    CHECK(e.type_name() == "std::runtime_error");
    CHECK(e.function() == "huge_message");
    CHECK(e.message().size() < 8192);
    CHECK(e.message().rfind("mmmm", 0) == 0);
    CHECK(e.message().find("... [truncated, " + std::to_string(n) + " bytes]") != std::string::npos);
  }
  // A dependent task gets it the same way.
  CHECK_THROWS_AS(shmray::get(shmray::task(slow_square).remote(shmray::task(huge_message).remote(n)), 30s),
                  shmray::TaskError);
  // A message that fits is whole.
  try {
    (void)shmray::get(shmray::task(huge_message).remote(std::size_t{100000}), 30s);
    FAIL("no exception");
  } catch (const shmray::TaskError& e) {
    CHECK(e.message() == std::string(100000, 'm'));
  }
  pool_works();
}

TEST_CASE("ErrorEdges.WhatReturningNullIsATaskError" * doctest::timeout(60)) {
  shmray::test::NoLeaks guard;
  shmray::init(kOpts);
  try {
    (void)shmray::get(shmray::task(null_what).options({.max_retries = 0}).remote(1), 30s);
    FAIL("no exception");
  } catch (const shmray::TaskError& e) {
    CHECK(e.type_name().find("NullWhat") != std::string::npos);
    CHECK(e.message() == "(what() returned null)");
  } catch (const std::exception& e) {
    FAIL("wrong exception: " << std::string(e.what()));
  }
  pool_works();
}

TEST_CASE("ErrorEdges.ThrowingSaveIsSerializationError" * doctest::timeout(60)) {
  shmray::test::NoLeaks guard;
  shmray::init(kOpts);
  const std::size_t before = shmray::store_stats().objects;
  // An argument: the error names its position and the function, and keeps save()'s message.
  for (int fail_on : {1, 2}) {
    CAPTURE(fail_on);
    try {
      (void)shmray::task(takes_unsavable).remote(1, Unsavable{fail_on, {1, 2, 3}});
      if (fail_on == 1) FAIL("no exception");
    } catch (const shmray::SerializationError& e) {
      const std::string what = e.what();
      CHECK(what.find("argument 2 of takes_unsavable") != std::string::npos);
      CHECK(what.find("cannot save this") != std::string::npos);
    } catch (const std::exception& e) {
      FAIL("wrong exception: " << std::string(e.what()));
    }
  }
  // put: sizing pass (1) and writing pass (2), small (inline) and large values.
  for (int fail_on : {1, 2}) {
    for (std::size_t n : {std::size_t{1}, std::size_t{1000}}) {
      CAPTURE(fail_on);
      CAPTURE(n);
      try {
        (void)shmray::put(Unsavable{fail_on, std::vector<int>(n, 7)});
        FAIL("no exception");
      } catch (const shmray::SerializationError& e) {
        const std::string what = e.what();
        CHECK(what.find("shmray::put") != std::string::npos);
        CHECK(what.find("cannot save this") != std::string::npos);
      } catch (const std::exception& e) {
        FAIL("wrong exception: " << std::string(e.what()));
      }
    }
  }
  // Inside a task.
  for (int fail_on : {1, 2}) {
    const std::string what = shmray::get(shmray::task(put_inside).remote(fail_on), 30s);
    CHECK(what.find("shmray::put") != std::string::npos);
    CHECK(what.find("cannot save this") != std::string::npos);
  }
  CHECK(shmray_test::eventually([&] { return shmray::store_stats().objects == before; }));
  pool_works();
}
