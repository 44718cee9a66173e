// Running out of object or task slots inside a task: the wait for slots has a deadline
// (store_full_timeout) and honours cancel, then fails with a named error that says what to
// do; the pool is whole afterwards.
#include <doctest/doctest.h>

#include <shmray/shmray.hpp>

#include <fcntl.h>
#include <unistd.h>
#include <chrono>
#include <string>
#include <vector>

#include "api/gate.hpp"
#include "support/leak_check.hpp"
#include "support/sanitized.hpp"

using namespace std::chrono_literals;

namespace {

using IntRef = shmray::ObjectRef<int>;

/// `n` puts, all kept, once the gate `go` is open (when given); creates `marker` after the
/// 200th (a worker's supply of object slots is 256).
int many_puts(int n, std::string go, std::string marker) {
  if (!go.empty()) shmray_test::wait_for_gate(go);
  std::vector<IntRef> keep;
  for (int i = 0; i < n; ++i) {
    keep.push_back(shmray::put(i));
    if (i == 200 && !marker.empty()) ::close(::open(marker.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
  }
  return n;
}
SHMRAY_REMOTE(many_puts);

int one() { return 1; }
SHMRAY_REMOTE(one);

int chain(int depth) { return depth == 0 ? 0 : shmray::get(shmray::task(chain).remote(depth - 1)) + 1; }
SHMRAY_REMOTE(chain);

/// Puts from the driver until the object table is full; returns the refs.
std::vector<IntRef> fill_object_table() {
  std::vector<IntRef> refs;
  for (int i = 0; i < 10'000'000; ++i) {
    try {
      refs.push_back(shmray::put(i));
    } catch (const shmray::ObjectStoreFullError&) {
      return refs;
    }
  }
  FAIL("the object table never filled up");
  return refs;
}

std::string what_of(const std::exception& e) { return e.what(); }

}  // namespace

TEST_CASE("SlotExhaustion.PutsInsideATaskFailAfterTheTimeoutWhenTheObjectTableIsFull" * doctest::timeout(120)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 1,
                .object_store_bytes = 16 << 20,
                .quiet = true,
                .max_workers = 1,
                .store_full_timeout = std::chrono::milliseconds(300)});
  const std::size_t base = shmray::store_stats().objects;
  {
    std::vector<IntRef> fill = fill_object_table();
    REQUIRE(fill.size() > 1000);
    fill.resize(fill.size() - 4);  // room for the task's own result
    IntRef r = shmray::task(many_puts).remote(400, std::string(), std::string());
    const auto t0 = std::chrono::steady_clock::now();
    std::string message;
    try {
      shmray::get(r, 60s);
    } catch (const shmray::ObjectStoreFullError& e) {
      message = what_of(e);
    } catch (const std::exception& e) {
      FAIL("wrong error: " << std::string(e.what()));
    }
    CAPTURE(message);
    CHECK(message.find("object table") != std::string::npos);
    CHECK(std::chrono::steady_clock::now() - t0 >= 250ms);
  }
  CHECK(shmray::get(shmray::task(one).remote(), 30s) == 1);
  CHECK(shmray_test::eventually([&] { return shmray::store_stats().objects == base; }, 10s));
}

TEST_CASE("SlotExhaustion.CancelEndsAWaitForObjectSlots" * doctest::timeout(120)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 1,
                .object_store_bytes = 16 << 20,
                .quiet = true,
                .max_workers = 1,
                .store_full_timeout = std::chrono::milliseconds(60'000)});
  const std::size_t base = shmray::store_stats().objects;
  shmray_test::Gate go, started;
  {
    IntRef r = shmray::task(many_puts).remote(400, go.path(), started.path());
    IntRef next = shmray::task(one).remote();  // queued behind it on the only worker
    std::vector<IntRef> fill = fill_object_table();
    go.open();
    shmray_test::wait_for_gate(started.path(), 30s);
    shmray::cancel(r);
    CHECK_THROWS_AS(shmray::get(r, 10s), shmray::TaskCancelledError);
    // The table is still full (fill lives on), so only the cancel can end the wait: the
    // worker then runs the next task long before the 60 s timeout.
    CHECK(shmray::get(next, 15s) == 1);
  }
  CHECK(shmray::get(shmray::task(one).remote(), 15s) == 1);
  CHECK(shmray_test::eventually([&] { return shmray::store_stats().objects == base; }, 10s));
}

// Sanitizers cannot follow a 32,768-deep stack: ASan's frames overflow the worker's 256 MiB
// stack, and TSan's stack depot holds at most 65,536 frames per stack (a CHECK failure).
using shmray::test::kSanitized;

TEST_CASE("SlotExhaustion.AChainDeeperThanTheTaskTableFailsWithTaskTableFullError" * doctest::timeout(300)) {
  if (kSanitized) {
    // 32,768 nested frames run inline on one worker's stack (see kSanitized): a sanitizer's
    // failure, not this test's subject.
    MESSAGE("skipped under a sanitizer: the chain's stack is too deep for it");
    return;
  }
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 2,
                .object_store_bytes = 64 << 20,
                .quiet = true,
                .store_full_timeout = std::chrono::milliseconds(300)});
  const std::size_t base = shmray::store_stats().objects;
  std::string message;
  try {
    shmray::get(shmray::task(chain).remote(40'000), 240s);
  } catch (const shmray::TaskTableFullError& e) {
    message = what_of(e);
  } catch (const std::exception& e) {
    FAIL("wrong error: " << std::string(e.what()));
  }
  CAPTURE(message);
  CHECK(message.find("task table") != std::string::npos);
  // The 32,768 levels unwind after the error reached us: a new chain submitted before that
  // finds the table still full (a 300 ms store_full_timeout under a loaded CI machine). What
  // is asserted: everything is released, and then the pool runs chains again.
  CHECK(shmray_test::eventually([&] { return shmray::store_stats().objects == base; }, 60s));
  CHECK(shmray::get(shmray::task(chain).remote(100), 60s) == 100);
  CHECK(shmray_test::eventually([&] { return shmray::store_stats().objects == base; }, 20s));
}
