// Deadlines inside tasks (issue 9, item 17): a get or wait with a finite timeout does not
// run the awaited producers inline (their run time would not be bounded by the timeout);
// without a timeout, inline execution stays (nested tasks never deadlock). Public headers only.
#include <doctest/doctest.h>

#include <shmray/shmray.hpp>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "support/leak_check.hpp"

using namespace std::chrono_literals;

namespace {

int sleepy(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return ms;
}
SHMRAY_REMOTE(sleepy);

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// get(child, 100 ms) where the child sleeps 3 s: returns the milliseconds until
// GetTimeoutError, or -1 if the get returned a value.
double get_with_timeout_in_a_task() {
  auto child = shmray::task(sleepy).remote(3000);
  const auto t0 = std::chrono::steady_clock::now();
  try {
    shmray::get(child, 100ms);
    return -1;
  } catch (const shmray::GetTimeoutError&) {
    return ms_since(t0);
  }
}
SHMRAY_REMOTE(get_with_timeout_in_a_task);

// wait(children, {.timeout = 0}) over 4 queued children of 500 ms each: returns the
// milliseconds it took (ready must be empty: -1 otherwise).
double poll_in_a_task() {
  std::vector<shmray::ObjectRef<int>> children;
  for (int i = 0; i < 4; ++i) children.push_back(shmray::task(sleepy).remote(500));
  const auto t0 = std::chrono::steady_clock::now();
  auto [ready, rest] = shmray::wait(children, {.num_returns = 1, .timeout = 0ms});
  const double took = ms_since(t0);
  return ready.empty() ? took : -1;
}
SHMRAY_REMOTE(poll_in_a_task);

// The same with a short timeout on wait.
double wait_with_timeout_in_a_task() {
  std::vector<shmray::ObjectRef<int>> children;
  for (int i = 0; i < 2; ++i) children.push_back(shmray::task(sleepy).remote(3000));
  const auto t0 = std::chrono::steady_clock::now();
  auto [ready, rest] = shmray::wait(children, {.num_returns = 2, .timeout = 100ms});
  const double took = ms_since(t0);
  return ready.size() < 2 ? took : -1;
}
SHMRAY_REMOTE(wait_with_timeout_in_a_task);

// No timeout: runs the child inline when nobody else can (one worker, no extra workers).
int get_without_timeout_in_a_task() { return shmray::get(shmray::task(sleepy).remote(10)); }
SHMRAY_REMOTE(get_without_timeout_in_a_task);

}  // namespace

TEST_CASE("InlineDeadline.GetWithATimeoutInATaskHonoursIt" * doctest::timeout(60)) {
  for (unsigned workers : {1u, 2u}) {
    CAPTURE(workers);
    shmray::test::NoLeaks guard;
    shmray::init({.num_workers = workers, .object_store_bytes = 16 << 20, .quiet = true});
    const double ms = shmray::get(shmray::task(get_with_timeout_in_a_task).remote(), 30s);
    CHECK(ms >= 0);      // GetTimeoutError, not the child's value
    CHECK(ms < 1500.0);  // about 100 ms; the child alone takes 3000
    shmray::shutdown();
  }
}

TEST_CASE("InlineDeadline.WaitWithTimeoutZeroIsAPoll" * doctest::timeout(60)) {
  for (unsigned workers : {1u, 2u}) {
    CAPTURE(workers);
    shmray::test::NoLeaks guard;
    shmray::init({.num_workers = workers, .object_store_bytes = 16 << 20, .quiet = true});
    const double ms = shmray::get(shmray::task(poll_in_a_task).remote(), 30s);
    CHECK(ms >= 0);     // nothing was ready
    CHECK(ms < 400.0);  // at once; running the children inline takes 2000
    const double waited = shmray::get(shmray::task(wait_with_timeout_in_a_task).remote(), 30s);
    CHECK(waited >= 0);
    CHECK(waited < 1500.0);
    shmray::shutdown();
  }
}

TEST_CASE("InlineDeadline.WithoutATimeoutChildrenStillRunInline" * doctest::timeout(60)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 1, .object_store_bytes = 16 << 20, .quiet = true, .max_workers = 1});
  CHECK(shmray::get(shmray::task(get_without_timeout_in_a_task).remote(), 30s) == 10);
}
