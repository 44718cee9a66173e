// An actor whose process cannot be forked (a pids limit reached under the pool): no process
// of it ran, so the failure is no restart. It is tried again a second later, so a shortage
// that passes costs nothing, not even of max_restarts=0; one that lasts kills the actor with
// the errno and the fix in its ActorDiedError after a few tries, instead of a hot loop of
// forks with max_restarts=-1. A kill while a retry is pending frees its slot. Each case
// changes its uid and rlimits, so it runs in a child role of this binary.
#include <doctest/doctest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <shmray/shmray.hpp>

#include <chrono>
#include <cstring>
#include <iostream>
#include <string>
#include <thread>

#include "actors/probe.hpp"
#include "support/child_role.hpp"
#include "support/procs.hpp"
#include "support/role_check.hpp"

using namespace std::chrono_literals;
using actor_test::make_probe;
using actor_test::Probe;
using Clock = std::chrono::steady_clock;

namespace {

int fail(const std::string& what) {
  std::cerr << "role failed: " << what << std::endl;
  return 1;
}

// An unused uid, so that RLIMIT_NPROC counts our own processes only (root is not held to it),
// and a pool of one worker whose fork server can fork nothing more once `starve` ran.
bool start_pool_as_other_user() {
  const uid_t uid = 61000 + static_cast<uid_t>(::getpid() % 4000);
  if (::getuid() == 0 && ::setresuid(uid, uid, uid) != 0) return false;
  shmray::init({.num_workers = 1, .quiet = true});
  return true;
}

// Sets the fork server's soft RLIMIT_NPROC; its hard limit stays, so it can be raised again
// (RLIM_INFINITY: back to the hard limit).
bool set_fork_limit(rlim_t soft) {
  const int fs = shmray::test::fork_server_of();
  rlimit rl{};
  if (fs <= 0 || ::prlimit(fs, RLIMIT_NPROC, nullptr, &rl) != 0) return false;
  rl.rlim_cur = soft == RLIM_INFINITY ? rl.rlim_max : soft;
  return ::prlimit(fs, RLIMIT_NPROC, &rl, nullptr) == 0;
}

int passing_shortage_role(const std::vector<std::string>&) {
  if (!start_pool_as_other_user()) return fail("setresuid");
  if (!set_fork_limit(1)) return fail("prlimit");
  auto p = shmray::actor(make_probe).options({.max_restarts = 0}).remote(10);
  auto r = p.task(&Probe::add).remote(5);
  std::this_thread::sleep_for(500ms);  // its first fork has failed by now
  if (!set_fork_limit(RLIM_INFINITY)) return fail("prlimit back");
  try {
    if (shmray::get(r, 30s) != 15) return fail("wrong value");
    if (shmray::get(p.task(&Probe::value).remote(), 30s) != 15) return fail("state lost");
  } catch (const std::exception& e) {
    return fail(std::string("the actor did not start once forks worked again: ") + e.what());
  }
  shmray::shutdown();
  return 0;
}
SHMRAY_TEST_ROLE("passing_shortage", passing_shortage_role);

int lasting_shortage_role(const std::vector<std::string>&) {
  if (!start_pool_as_other_user()) return fail("setresuid");
  if (!set_fork_limit(1)) return fail("prlimit");
  const auto t0 = Clock::now();
  auto p = shmray::actor(make_probe).options({.max_restarts = -1}).remote(10);
  try {
    (void)shmray::get(p.task(&Probe::add).remote(5), 40s);
    return fail("a call ran without a process");
  } catch (const shmray::ActorDiedError& e) {
    const std::string what = e.what();
    std::cerr << "call: " << what << "\n";
    if (what.find(std::strerror(EAGAIN)) == std::string::npos) return fail("no errno in: " + what);
    if (what.find("pids limit") == std::string::npos) return fail("no fix in: " + what);
  } catch (const std::exception& e) {
    return fail(std::string("the call gave ") + e.what());
  }
  if (Clock::now() - t0 > 30s) return fail("the actor died late");
  try {
    (void)shmray::get(p.task(&Probe::value).remote(), 10s);
    return fail("a call on the dead actor ran");
  } catch (const shmray::ActorDiedError&) {
  }
  shmray::shutdown();
  return 0;
}
SHMRAY_TEST_ROLE("lasting_shortage", lasting_shortage_role);

int kill_while_retrying_role(const std::vector<std::string>&) {
  const uid_t uid = 61000 + static_cast<uid_t>(::getpid() % 4000);
  if (::getuid() == 0 && ::setresuid(uid, uid, uid) != 0) return fail("setresuid");
  shmray::init({.num_workers = 1, .quiet = true, .max_actors = 1});
  if (!set_fork_limit(1)) return fail("prlimit");
  {
    auto p = shmray::actor(make_probe).options({.max_restarts = -1}).remote(10);
    std::this_thread::sleep_for(300ms);  // its first fork has failed: a retry is pending
    shmray::kill(p);
  }
  if (!set_fork_limit(RLIM_INFINITY)) return fail("prlimit back");
  try {  // the one actor slot comes free: the killed actor's retry started no process
    auto q = shmray::actor(make_probe).remote(1);
    if (shmray::get(q.task(&Probe::add).remote(1), 30s) != 2) return fail("wrong value");
  } catch (const std::exception& e) {
    return fail(std::string("a new actor after the kill: ") + e.what());
  }
  shmray::shutdown();
  return 0;
}
SHMRAY_TEST_ROLE("kill_while_retrying", kill_while_retrying_role);

}  // namespace

TEST_CASE("ActorFork.AShortageThatPassesCostsNoRestart" * doctest::timeout(90)) {
  shmray::test::check_role("passing_shortage");
}

TEST_CASE("ActorFork.ALastingShortageKillsTheActorWithTheErrno" * doctest::timeout(90)) {
  shmray::test::check_role("lasting_shortage");
}

TEST_CASE("ActorFork.AKillWhileARetryIsPendingFreesTheSlot" * doctest::timeout(90)) {
  shmray::test::check_role("kill_while_retrying");
}
