// as_completed() when the process producing a watched ref is killed (SIGKILL): the driver
// fails the ref (or runs it again) and the loop yields it once, without hanging.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <shmray/shmray.hpp>

#include <chrono>
#include <set>
#include <string>
#include <vector>

#include "api/gate.hpp"
#include "support/leak_check.hpp"

using namespace std::chrono_literals;

namespace {

int noop(int x) { return x; }

void touch(const std::string& path) {
  const int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
  if (fd >= 0) ::close(fd);
}
SHMRAY_REMOTE(noop);

/// Waits for the gate, then SIGKILLs its own worker (the first `kills` times: a marker file
/// counts the attempts).
int die_after_gate(std::string gate, std::string marker, int kills) {
  shmray_test::wait_for_gate(gate);
  int attempts = 0;
  while (::access((marker + std::to_string(attempts)).c_str(), F_OK) == 0) ++attempts;
  touch(marker + std::to_string(attempts));
  if (attempts < kills) ::raise(SIGKILL);
  return 7;
}
SHMRAY_REMOTE(die_after_gate);

/// The attempt files die_after_gate leaves beside a Gate's path, removed at the end.
struct Marker {
  shmray_test::Gate gate;
  const std::string& path() const { return gate.path(); }
  ~Marker() {
    for (int k = 0; k < 4; ++k) ::unlink((gate.path() + std::to_string(k)).c_str());
  }
};

using Refs = std::vector<shmray::ObjectRef<int>>;
const shmray::Options kPool{.num_workers = 2, .object_store_bytes = 128 << 20, .quiet = true};

}  // namespace

TEST_CASE("AsCompletedCrash.KilledProducerIsYieldedOnceAsFailed" * doctest::timeout(120)) {
  shmray::test::NoLeaks guard;
  shmray::init(kPool);
  shmray_test::Gate gate;
  Marker marker;
  const auto doomed = shmray::task(die_after_gate).options({.max_retries = 0}).remote(gate.path(), marker.path(), 1);
  Refs refs{shmray::put(1), doomed};
  for (int i = 0; i < 20; ++i) refs.push_back(shmray::task(noop).remote(i));
  std::set<std::uint64_t> seen;
  std::size_t failed = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (auto& r : shmray::as_completed(refs)) {
    REQUIRE(seen.insert(r.id().value).second);
    if (seen.size() == 2) gate.open();  // the watch is registered and sleeps or spins for the rest
    try {
      (void)shmray::get(r, 0ms);
    } catch (const shmray::WorkerCrashedError&) {
      ++failed;
      CHECK(r == doomed);
    }
  }
  CHECK(seen.size() == refs.size());
  CHECK(failed == 1);
  CHECK(std::chrono::steady_clock::now() - t0 < 60s);
}

TEST_CASE("AsCompletedCrash.KilledThenRetriedIsYieldedOnceAsReady" * doctest::timeout(120)) {
  shmray::test::NoLeaks guard;
  shmray::init(kPool);
  shmray_test::Gate gate;
  Marker marker;
  const auto twice = shmray::task(die_after_gate).options({.max_retries = 2}).remote(gate.path(), marker.path(), 1);
  Refs refs{shmray::put(1), twice};
  auto range = shmray::as_completed(refs, 60s);
  auto it = range.begin();
  REQUIRE(it != range.end());
  CHECK(*it == refs[0]);
  gate.open();  // killed once while watched, then run again
  ++it;
  REQUIRE(it != range.end());
  CHECK(*it == twice);
  CHECK(shmray::get(*it, 0ms) == 7);
  ++it;
  CHECK(it == range.end());
}
