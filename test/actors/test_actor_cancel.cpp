// cancel() of actor calls: a call queued behind a running one (or waiting for its argument)
// never runs and the calls after it still do; a running call is flagged (cancelled() turns
// true, the actor lives); force kills the actor's process, which restarts when allowed.
#include <doctest/doctest.h>

#include <shmray/shmray.hpp>

#include <chrono>
#include <string>
#include <vector>

#include "actors/probe.hpp"
#include "api/gate.hpp"
#include "support/leak_check.hpp"
#include "support/procs.hpp"

using namespace std::chrono_literals;
using actor_test::eventually_dead;
using actor_test::make_probe;
using actor_test::Probe;

namespace {

int gated_task(std::string gate, int k) {
  shmray_test::wait_for_gate(gate, std::chrono::seconds(120));
  return k;
}
SHMRAY_REMOTE(gated_task);

}  // namespace

TEST_CASE("Actors.CancelAQueuedCall" * doctest::timeout(180)) {
  shmray::test::NoLeaks guard;
  shmray::test::TempDir dir;
  shmray::init({.num_workers = 2, .quiet = true});
  {
    auto p = shmray::actor(make_probe).remote(0);
    shmray_test::Gate gate;
    auto slow = p.task(&Probe::gated).remote(dir.file("slow"), gate.path(), 1);
    auto victim = p.task(&Probe::add).remote(10);
    auto after = p.task(&Probe::add).remote(100);
    shmray::test::wait_file(dir.file("slow"));
    shmray::cancel(victim);
    CHECK_THROWS_AS(shmray::get(victim, 60s), shmray::TaskCancelledError);  // at once: the gate is shut
    gate.open();
    CHECK(shmray::get(slow, 60s) == 1);
    CHECK(shmray::get(after, 60s) == 101);  // the cancelled call never ran
    CHECK(shmray::get(p.task(&Probe::value).remote(), 60s) == 101);

    // A call still waiting for its argument: cancelled, the caller's later calls go on without it.
    shmray_test::Gate arg_gate;
    auto arg = shmray::task(gated_task).remote(arg_gate.path(), 5);
    auto waiting = p.task(&Probe::add).remote(arg);
    auto behind = p.task(&Probe::add).remote(1000);
    shmray::cancel(waiting);
    CHECK_THROWS_AS(shmray::get(waiting, 60s), shmray::TaskCancelledError);
    CHECK(shmray::get(behind, 60s) == 1101);
    arg_gate.open();
    CHECK(shmray::get(arg, 60s) == 5);
    CHECK(shmray::get(p.task(&Probe::value).remote(), 60s) == 1101);
    // Cancelling a finished call does nothing.
    shmray::cancel(behind);
    CHECK(shmray::get(behind) == 1101);
  }
  shmray::shutdown();
}

TEST_CASE("Actors.CancelARunningCall" * doctest::timeout(180)) {
  shmray::test::NoLeaks guard;
  shmray::test::TempDir dir;
  shmray::init({.num_workers = 2, .quiet = true});
  {
    auto p = shmray::actor(make_probe).remote(4);
    const int pid = shmray::get(p.task(&Probe::pid).remote(), 60s);
    auto running = p.task(&Probe::until_cancelled).remote(dir.file("coop"));
    auto after = p.task(&Probe::add).remote(1);
    shmray::test::wait_file(dir.file("coop"));
    shmray::cancel(running);
    CHECK_THROWS_AS(shmray::get(running, 60s), shmray::TaskCancelledError);
    CHECK(shmray::get(after, 60s) == 5);  // the same object: no restart
    CHECK(shmray::get(p.task(&Probe::pid).remote(), 60s) == pid);
  }
  shmray::shutdown();
}

TEST_CASE("Actors.ForceCancelARunningCallRestartsTheActor" * doctest::timeout(180)) {
  shmray::test::NoLeaks guard;
  shmray::test::TempDir dir;
  shmray::init({.num_workers = 2, .quiet = true});
  {
    auto p = shmray::actor(make_probe).options({.max_restarts = 1, .max_task_retries = 1}).remote(7);
    CHECK(shmray::get(p.task(&Probe::add).remote(1), 60s) == 8);
    const int pid = shmray::get(p.task(&Probe::pid).remote(), 60s);
    auto running = p.task(&Probe::hang).remote(dir.file("one"));
    auto queued = p.task(&Probe::add).remote(2);
    shmray::test::wait_file(dir.file("one"));
    shmray::cancel(running, {.force = true});
    CHECK_THROWS_AS(shmray::get(running, 60s), shmray::TaskCancelledError);  // not retried, though it could be
    CHECK(shmray::get(queued, 60s) == 9);                                    // on the restarted actor: 7 + 2
    CHECK(eventually_dead(pid));
    const int pid2 = shmray::get(p.task(&Probe::pid).remote(), 60s);
    CHECK(pid2 != pid);

    // No restart left: the force cancel ends the actor.
    auto again = p.task(&Probe::hang).remote(dir.file("two"));
    shmray::test::wait_file(dir.file("two"));
    shmray::cancel(again, {.force = true});
    CHECK_THROWS_AS(shmray::get(again, 60s), shmray::TaskCancelledError);
    CHECK_THROWS_AS(shmray::get(p.task(&Probe::value).remote(), 60s), shmray::ActorDiedError);
    CHECK(eventually_dead(pid2));
  }
  shmray::shutdown();
}
