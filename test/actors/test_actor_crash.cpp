// An actor's process SIGKILLed mid-call: with a retry left the interrupted call runs again on
// the restarted actor (its factory again, state reset); without one it fails ActorDiedError
// while the calls queued behind it run on the restarted actor; once max_restarts is spent
// every call fails at once. kill(handle) and kill(handle, false) likewise.
#include <doctest/doctest.h>
#include <signal.h>

#include <shmray/shmray.hpp>

#include <chrono>
#include <string>
#include <vector>

#include "actors/probe.hpp"
#include "support/leak_check.hpp"
#include "support/procs.hpp"

using namespace std::chrono_literals;
using actor_test::eventually_dead;
using actor_test::make_probe;
using actor_test::Probe;

namespace {

// Once the actor is dead, a call fails at once: its ref is final when remote() returns.
void check_calls_fail_at_once(const shmray::ActorHandle<Probe>& p) {
  std::vector<shmray::ObjectRef<int>> refs;
  for (int i = 0; i < 5; ++i) refs.push_back(p.task(&Probe::add).remote(i));
  refs.push_back(p.task(&Probe::value).remote());
  const auto w = shmray::wait(refs, {.num_returns = refs.size(), .timeout = 0s});
  CHECK(w.rest.empty());
  for (auto& r : refs) CHECK_THROWS_AS(shmray::get(r, 30s), shmray::ActorDiedError);
}

// SIGKILLs the actor's process (pid from a method) and returns that pid.
int kill_process(const shmray::ActorHandle<Probe>& p) {
  const int pid = shmray::get(p.task(&Probe::pid).remote(), 60s);
  REQUIRE(::kill(pid, SIGKILL) == 0);
  return pid;
}

}  // namespace

TEST_CASE("Actors.CrashMidCallIsRetriedOnTheRestartedActor" * doctest::timeout(180)) {
  shmray::test::NoLeaks guard;
  shmray::test::TempDir dir;
  shmray::init({.num_workers = 2, .quiet = true});
  {
    auto p = shmray::actor(make_probe).options({.max_restarts = 1, .max_task_retries = 1}).remote(100);
    CHECK(shmray::get(p.task(&Probe::add).remote(5), 60s) == 105);
    const int pid = shmray::get(p.task(&Probe::pid).remote(), 60s);
    auto r = p.task(&Probe::hang_once).remote(dir.file("once"));
    auto after = p.task(&Probe::add).remote(1);
    shmray::test::wait_file(dir.file("once"));
    REQUIRE(::kill(pid, SIGKILL) == 0);
    CHECK(shmray::get(r, 60s) == 100);      // ran again, on a fresh object
    CHECK(shmray::get(after, 60s) == 101);  // queued behind it: ran once, after it
    const int pid2 = shmray::get(p.task(&Probe::pid).remote(), 60s);
    CHECK(pid2 != pid);
    CHECK(eventually_dead(pid));
    // The one restart is spent: the next death is the end.
    REQUIRE(::kill(pid2, SIGKILL) == 0);
    CHECK_THROWS_AS(shmray::get(p.task(&Probe::value).remote(), 60s), shmray::ActorDiedError);
    check_calls_fail_at_once(p);
  }
  shmray::shutdown();
}

TEST_CASE("Actors.CrashWithoutRetryFailsOnlyTheRunningCall" * doctest::timeout(180)) {
  shmray::test::NoLeaks guard;
  shmray::test::TempDir dir;
  shmray::init({.num_workers = 2, .quiet = true});
  {
    auto p = shmray::actor(make_probe).options({.max_restarts = 1, .max_task_retries = 0}).remote(10);
    CHECK(shmray::get(p.task(&Probe::add).remote(1), 60s) == 11);
    const int pid = shmray::get(p.task(&Probe::pid).remote(), 60s);
    auto running = p.task(&Probe::hang).remote(dir.file("started"));
    std::vector<shmray::ObjectRef<int>> queued;
    for (int i = 0; i < 20; ++i) queued.push_back(p.task(&Probe::add).remote(1));
    shmray::test::wait_file(dir.file("started"));
    REQUIRE(::kill(pid, SIGKILL) == 0);
    CHECK_THROWS_AS(shmray::get(running, 60s), shmray::ActorDiedError);
    // Sent but not started: run on the restarted actor (state from its factory), each once, in order.
    const std::vector<int> got = shmray::get(queued, 60s);
    for (int i = 0; i < 20; ++i) CHECK(got[std::size_t(i)] == 11 + i);
    CHECK(shmray::get(p.task(&Probe::pid).remote(), 60s) != pid);
    kill_process(p);  // no restart left
    CHECK_THROWS_AS(shmray::get(p.task(&Probe::value).remote(), 60s), shmray::ActorDiedError);
    check_calls_fail_at_once(p);
  }
  shmray::shutdown();
}

TEST_CASE("Actors.KillWithAndWithoutRestart" * doctest::timeout(180)) {
  shmray::test::NoLeaks guard;
  shmray::test::TempDir dir;
  shmray::init({.num_workers = 2, .quiet = true});
  {
    // kill(handle, false) is a crash: it restarts while max_restarts allows.
    auto p = shmray::actor(make_probe).options({.max_restarts = 1}).remote(3);
    CHECK(shmray::get(p.task(&Probe::add).remote(1), 60s) == 4);
    const int pid = shmray::get(p.task(&Probe::pid).remote(), 60s);
    shmray::kill(p, false);
    CHECK(shmray::get(p.task(&Probe::value).remote(), 60s) == 3);
    CHECK(eventually_dead(pid));
    shmray::kill(p, false);  // no restart left
    CHECK_THROWS_AS(shmray::get(p.task(&Probe::value).remote(), 60s), shmray::ActorDiedError);
    check_calls_fail_at_once(p);

    // kill(handle) ends even an actor that may restart without limit, and fails what it had.
    auto q = shmray::actor(make_probe).options({.max_restarts = -1, .max_task_retries = -1}).remote(0);
    const int qpid = shmray::get(q.task(&Probe::pid).remote(), 60s);
    auto running = q.task(&Probe::hang).remote(dir.file("q"));
    auto queued = q.task(&Probe::add).remote(1);
    shmray::test::wait_file(dir.file("q"));
    shmray::kill(q);
    CHECK_THROWS_AS(shmray::get(running, 60s), shmray::ActorDiedError);
    CHECK_THROWS_AS(shmray::get(queued, 60s), shmray::ActorDiedError);
    check_calls_fail_at_once(q);
    CHECK(eventually_dead(qpid));
    shmray::kill(q);  // again: nothing to do
  }
  shmray::shutdown();
}

TEST_CASE("Actors.UnlimitedRestartsSurviveRepeatedKills" * doctest::timeout(180)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 2, .quiet = true});
  {
    auto p = shmray::actor(make_probe).options({.max_restarts = -1, .max_task_retries = -1}).remote(50);
    for (int round = 0; round < 10; ++round) {
      CAPTURE(round);
      const int pid = kill_process(p);
      CHECK(shmray::get(p.task(&Probe::add).remote(1), 60s) == 51);  // a fresh object each time
      CHECK(eventually_dead(pid));
    }
  }
  shmray::shutdown();
}

TEST_CASE("Actors.KillDuringACallFreesWhatTheCallHeld" * doctest::timeout(180)) {
  // kill() fails the running call at once; the process's exit must still recycle that call's
  // task slot, its pins and its result (the exit once walked only the emptied queues).
  shmray::test::NoLeaks guard;
  shmray::test::TempDir dir;
  shmray::init({.num_workers = 2, .quiet = true});
  const std::size_t before = shmray::store_stats().objects;
  for (int round = 0; round < 3; ++round) {
    CAPTURE(round);
    auto q = shmray::actor(make_probe).remote(0);
    const int qpid = shmray::get(q.task(&Probe::pid).remote(), 60s);
    const std::string started = dir.file("r" + std::to_string(round));
    auto running = q.task(&Probe::hang).remote(started);
    shmray::test::wait_file(started);
    shmray::kill(q);
    CHECK_THROWS_AS(shmray::get(running, 60s), shmray::ActorDiedError);
    CHECK(eventually_dead(qpid));
  }
  const bool freed =
      shmray_test::eventually([&] { return shmray::store_stats().objects == before; }, std::chrono::seconds(30));
  const std::size_t after = shmray::store_stats().objects;
  CAPTURE(before);
  CAPTURE(after);
  CHECK(freed);
  shmray::shutdown();
}
