// cancel() called from inside a task (the worker's RuntimeApi): the child it names ends as
// cancelled, and the caller's get() says so with TaskCancelledError, whether the child was
// still queued, running cooperatively or running without looking (force).
#include <doctest/doctest.h>

#include <shmray/shmray.hpp>

#include <chrono>
#include <string>
#include <thread>

#include "support/leak_check.hpp"

using namespace std::chrono_literals;

namespace {

// Runs until cancelled (cooperative) or 30 s: a test that sees 30 s has failed.
int until_cancelled(int) {
  const auto until = std::chrono::steady_clock::now() + 30s;
  while (!shmray::cancelled() && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(1ms);
  return shmray::cancelled() ? 1 : 0;
}
SHMRAY_REMOTE(until_cancelled);

// Never looks at cancelled(): only a force cancel ends it early.
int stubborn(int) {
  std::this_thread::sleep_for(30s);
  return 0;
}
SHMRAY_REMOTE(stubborn);

// Submits a child, lets it start (or not), cancels it and reports what get() then says.
std::string cancel_child(bool force, bool let_start) {
  auto child = force ? shmray::task(stubborn).remote(0) : shmray::task(until_cancelled).remote(0);
  if (let_start) std::this_thread::sleep_for(200ms);  // usually running by then; either way is fine
  shmray::cancel(child, {.force = force});
  try {
    (void)shmray::get(child, 20s);
    return "value";
  } catch (const shmray::TaskCancelledError&) {
    return "cancelled";
  } catch (const std::exception& e) {
    return std::string("other: ") + e.what();
  }
}
SHMRAY_REMOTE(cancel_child);

}  // namespace

TEST_CASE("CancelInTask.ChildEndsCancelledWhateverItsState" * doctest::timeout(180)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 2, .quiet = true});
  for (bool force : {false, true})
    for (bool let_start : {false, true}) {
      CAPTURE(force);
      CAPTURE(let_start);
      const auto t0 = std::chrono::steady_clock::now();
      CHECK(shmray::get(shmray::task(cancel_child).remote(force, let_start), 60s) == "cancelled");
      CHECK(std::chrono::steady_clock::now() - t0 < 20s);  // the children run 30 s unless cancelled
    }
  shmray::shutdown();
}
