// Memory a ref held by a worker kept alive comes back at once when the last ref goes (issue
// 13, finding 3), not at the end of the task that dropped it or at the driver's next
// housekeeping pass: a program that frees and makes big objects in a loop never meets
// ObjectStoreFullError for it.
#include <doctest/doctest.h>

#include <shmray/shmray.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include "api/gate.hpp"
#include "support/leak_check.hpp"

using namespace std::chrono_literals;

namespace {

using Bytes = std::vector<char>;
using BytesRef = shmray::ObjectRef<Bytes>;

constexpr std::size_t kStore = 16u << 20;
constexpr std::size_t kBig = kStore * 2 / 5;  // 40% of the store: a third one never fits

void create_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
  if (fd >= 0) ::close(fd);
}
bool file_exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

// A service-style task: makes an object, drops its only ref, says so (a marker file), then
// runs on until the test opens the gate.
int put_drop_run_on(std::size_t n, std::string marker, std::string gate) {
  { BytesRef r = shmray::put(Bytes(n, 'p')); }
  create_file(marker);
  shmray_test::wait_for_gate(gate);
  return 1;
}
SHMRAY_REMOTE(put_drop_run_on);

// Takes a ref (not its value) and drops it when it returns.
std::size_t size_of_ref(BytesRef r) { return r.hex().size(); }
SHMRAY_REMOTE(size_of_ref);

Bytes make_bytes(std::size_t n) { return Bytes(n, 'm'); }
SHMRAY_REMOTE(make_bytes);

std::size_t objects() { return shmray::store_stats().objects; }

}  // namespace

TEST_CASE("ReleasePrompt.RefDroppedInARunningTaskIsFreedWhileItRuns" * doctest::timeout(60)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 2, .object_store_bytes = kStore, .quiet = true});
  const std::size_t base = objects();
  shmray_test::Gate dropped, done;
  shmray::ObjectRef<int> t = shmray::task(put_drop_run_on).remote(std::size_t{1} << 20, dropped.path(), done.path());
  REQUIRE(shmray_test::eventually([&] { return file_exists(dropped.path()); }, 30s));
  // The task's result (pending) still counts; the object it dropped must not, long before
  // the task ends.
  CHECK(shmray_test::eventually([&] { return objects() == base + 1; }));
  done.open();
  CHECK(shmray::get(t, 30s) == 1);
}

TEST_CASE("ReleasePrompt.MemoryARunningTaskDroppedIsReusableAtOnce" * doctest::timeout(60)) {
  shmray::test::NoLeaks guard;
  // store_full_timeout 0: a put that would have to wait for anyone fails at once.
  shmray::init({.num_workers = 2, .object_store_bytes = kStore, .quiet = true, .store_full_timeout = 0ms});
  shmray_test::Gate dropped, done;
  shmray::ObjectRef<int> t = shmray::task(put_drop_run_on).remote(kBig, dropped.path(), done.path());
  REQUIRE(shmray_test::eventually([&] { return file_exists(dropped.path()); }, 30s));
  // Two more of the same size fit only if the task's dropped one is gone: its release was
  // reported before the marker, so no wait is needed.
  std::vector<BytesRef> kept;
  CHECK_NOTHROW(kept.push_back(shmray::put(Bytes(kBig, 'a'))));
  CHECK_NOTHROW(kept.push_back(shmray::put(Bytes(kBig, 'b'))));
  done.open();
  CHECK(shmray::get(t, 30s) == 1);
}

TEST_CASE("ReleasePrompt.BigObjectsThroughTasksInALoopNeverFillTheStore" * doctest::timeout(120)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 2, .object_store_bytes = kStore, .quiet = true, .store_full_timeout = 0ms});
  const std::size_t base = objects();
  for (int i = 0; i < 30; ++i) {
    CAPTURE(i);
    {
      BytesRef r = shmray::put(Bytes(kBig, char('a' + i % 26)));  // ObjectStoreFullError if the last one is not back
      CHECK(shmray::get(shmray::task(size_of_ref).remote(r), 30s) == r.hex().size());
    }
    {
      BytesRef made = shmray::task(make_bytes).remote(kBig);
      CHECK(shmray::get(shmray::task(size_of_ref).remote(made), 30s) == made.hex().size());
    }
    REQUIRE(shmray_test::eventually([&] { return objects() == base; }));
  }
}
