// Edges of an actor's life: the last handle dropped with calls in flight (they all run,
// then the process ends), a handle only a task holds, a call whose argument failed, big
// arguments and results, kill and cancel before the factory ran, and a factory that
// crashes its process every time.
#include <doctest/doctest.h>
#include <signal.h>
#include <unistd.h>

#include <shmray/shmray.hpp>

#include <chrono>
#include <cstdlib>
#include <stdexcept>
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

int fails(int) { throw std::runtime_error("no argument for you"); }
SHMRAY_REMOTE(fails);

// Holds bytes; answers with big results.
class Store {
 public:
  explicit Store(std::vector<char> seed) : data_(std::move(seed)) {}
  std::size_t append(std::vector<char> more) {
    data_.insert(data_.end(), more.begin(), more.end());
    return data_.size();
  }
  std::vector<char> all() const { return data_; }

 private:
  std::vector<char> data_;
};
Store* make_store(std::vector<char> seed) { return new Store(std::move(seed)); }
SHMRAY_REMOTE(make_store);
SHMRAY_REMOTE(&Store::append);
SHMRAY_REMOTE(&Store::all);

// A factory that waits for a gate (so calls queue up before it ran).
Probe* make_gated_probe(std::string gate, int start) {
  shmray_test::wait_for_gate(gate, std::chrono::seconds(120));
  return new Probe(start);
}
SHMRAY_REMOTE(make_gated_probe);

// A factory that kills its own process.
Probe* make_crashing_probe(int) {
  ::kill(::getpid(), SIGKILL);
  return nullptr;
}
SHMRAY_REMOTE(make_crashing_probe);

int gated_value(std::string gate, int v) {
  shmray_test::wait_for_gate(gate, std::chrono::seconds(120));
  return v;
}
SHMRAY_REMOTE(gated_value);

// A task given the only handle: calls it, returns the actor's pid.
int use_and_drop(shmray::ActorHandle<Probe> p, int k) {
  shmray::get(p.task(&Probe::add).remote(k));
  return shmray::get(p.task(&Probe::pid).remote());
}
SHMRAY_REMOTE(use_and_drop);

// Creates an actor when a slot is free (max_actors): false while none is.
struct ProbeHandleHolder {
  shmray::ActorHandle<Probe> h;
  template <class A>
  bool try_create(const A& start) {
    try {
      h = shmray::actor(make_probe).remote(start);
      return true;
    } catch (const shmray::Error&) {
      return false;
    }
  }
};

}  // namespace

TEST_CASE("Actors.LastHandleDroppedWithCallsInFlight" * doctest::timeout(180)) {
  shmray::test::NoLeaks guard;
  shmray::test::TempDir dir;
  shmray::init({.num_workers = 2, .quiet = true});
  {
    std::vector<shmray::ObjectRef<int>> refs;
    shmray_test::Gate gate;
    int pid = 0;
    {
      auto p = shmray::actor(make_probe).remote(0);
      pid = shmray::get(p.task(&Probe::pid).remote(), 60s);
      refs.push_back(p.task(&Probe::gated).remote(dir.file("g"), gate.path(), 1));
      for (int i = 0; i < 100; ++i) refs.push_back(p.task(&Probe::add).remote(1));
    }  // dropped while the first call waits and 100 are queued
    shmray::test::wait_file(dir.file("g"));
    CHECK(shmray::test::process_alive(pid));
    gate.open();
    const std::vector<int> got = shmray::get(refs, 60s);
    for (int i = 0; i <= 100; ++i) CHECK(got[std::size_t(i)] == i + 1);
    CHECK(eventually_dead(pid));

    // A handle only a task held: the actor ends after the task.
    const int pid2 = shmray::get(shmray::task(use_and_drop).remote(shmray::actor(make_probe).remote(0), 5), 60s);
    CHECK(eventually_dead(pid2));
  }
  shmray::shutdown();
}

// The driver's own release of the last handle, with nothing else going on after it: once
// the driver has settled every other object (store_stats back at the count before the
// actor, plus the handle's), dropping the handle alone must end the actor.
TEST_CASE("Actors.LastHandleDroppedWhileTheDriverIsIdle" * doctest::timeout(300)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 2, .quiet = true});
  const std::size_t base = shmray::store_stats().objects;
  for (int round = 0; round < 5; ++round) {
    CAPTURE(round);
    int pid = 0;
    {
      auto p = shmray::actor(make_probe).remote(0);
      pid = shmray::get(p.task(&Probe::pid).remote(), 60s);
      REQUIRE(shmray_test::eventually([base] { return shmray::store_stats().objects == base + 1; }, 30'000ms));
    }
    CHECK(eventually_dead(pid));
  }
  shmray::shutdown();
}

TEST_CASE("Actors.CallWithAFailedArgument" * doctest::timeout(120)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 2, .quiet = true});
  {
    auto p = shmray::actor(make_probe).remote(0);
    auto bad = p.task(&Probe::add).remote(shmray::task(fails).remote(1));
    auto after = p.task(&Probe::add).remote(2);
    CHECK_THROWS_AS(shmray::get(bad, 60s), shmray::TaskError);
    CHECK(shmray::get(after, 60s) == 2);  // the failed call did not block the caller's next
    CHECK(shmray::get(p.task(&Probe::value).remote(), 60s) == 2);
  }
  shmray::shutdown();
}

TEST_CASE("Actors.BigArgumentsAndResults" * doctest::timeout(180)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 2, .object_store_bytes = 256 << 20, .quiet = true});
  {
    auto s = shmray::actor(make_store).remote(std::vector<char>(3 << 20, 'a'));
    CHECK(shmray::get(s.task(&Store::append).remote(std::vector<char>(5 << 20, 'b')), 60s) == std::size_t(8 << 20));
    auto big = shmray::put(std::vector<char>(2 << 20, 'c'));
    CHECK(shmray::get(s.task(&Store::append).remote(big), 60s) == std::size_t(10 << 20));
    const std::vector<char> all = shmray::get(s.task(&Store::all).remote(), 60s);
    REQUIRE(all.size() == std::size_t(10 << 20));
    CHECK(all.front() == 'a');
    CHECK(all[(3 << 20)] == 'b');
    CHECK(all.back() == 'c');
  }
  shmray::shutdown();
}

TEST_CASE("Actors.KillAndCancelBeforeTheFactoryRan" * doctest::timeout(180)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 2, .quiet = true});
  {
    shmray_test::Gate gate;
    auto k = shmray::actor(make_gated_probe).remote(gate.path(), 1);
    auto queued = k.task(&Probe::add).remote(1);
    shmray::kill(k);
    CHECK_THROWS_AS(shmray::get(queued, 60s), shmray::ActorDiedError);
    CHECK_THROWS(shmray::get(k.ready(), 60s));
    CHECK_THROWS_AS(shmray::get(k.task(&Probe::value).remote(), 60s), shmray::ActorDiedError);

    // cancel(handle.ready()): the actor's creation is a task too. Whatever it leads to, calls
    // end (a value or an error), never hang.
    auto c = shmray::actor(make_gated_probe).remote(gate.path(), 2);
    auto before = c.task(&Probe::add).remote(1);
    shmray::cancel(c.ready());
    auto after = c.task(&Probe::add).remote(1);
    gate.open();
    CHECK_THROWS_AS(shmray::get(before, 60s), shmray::ActorDiedError);
    CHECK_THROWS_AS(shmray::get(after, 60s), shmray::ActorDiedError);
    CHECK_THROWS_AS(shmray::get(c.ready(), 60s), shmray::TaskCancelledError);
  }
  shmray::shutdown();
}

TEST_CASE("Actors.CancelledCreationFreesItsProcessAndSlot" * doctest::timeout(180)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 2, .quiet = true, .max_actors = 1});
  {
    shmray_test::Gate gate;
    shmray::test::TempDir dir;
    {
      auto c = shmray::actor(make_gated_probe).remote(gate.path(), 2);
      // Running its factory: an actor process is there.
      CHECK(shmray_test::eventually([] { return actor_test::actor_pids().size() == 1; }, 30'000ms));
      shmray::cancel(c.ready());
      CHECK_THROWS_AS(shmray::get(c.ready(), 60s), shmray::TaskCancelledError);
      gate.open();  // its factory returns now, in a process the driver counts as dead
    }
    CHECK(shmray_test::eventually([] { return actor_test::actor_pids().empty(); }, 30'000ms));
    ProbeHandleHolder next;
    CHECK(shmray_test::eventually([&next] { return next.try_create(5); }, 30'000ms));
    if (next.h) CHECK(shmray::get(next.h.task(&Probe::value).remote(), 60s) == 5);
    next.h = {};
    // A creation cancelled while it waits for its argument: it never runs; the process goes too.
    shmray_test::Gate arg_gate;
    auto arg = shmray::task(gated_value).remote(arg_gate.path(), 6);
    {
      ProbeHandleHolder waiting;
      REQUIRE(shmray_test::eventually([&] { return waiting.try_create(arg); }, 30'000ms));
      auto call = waiting.h.task(&Probe::value).remote();
      shmray::cancel(waiting.h.ready());
      CHECK_THROWS_AS(shmray::get(waiting.h.ready(), 60s), shmray::TaskCancelledError);
      CHECK_THROWS_AS(shmray::get(call, 60s), shmray::ActorDiedError);
    }
    CHECK(shmray_test::eventually([] { return actor_test::actor_pids().empty(); }, 30'000ms));
    CHECK(shmray_test::eventually([&next] { return next.try_create(7); }, 30'000ms));
    arg_gate.open();
    CHECK(shmray::get(arg, 60s) == 6);
  }
  shmray::shutdown();
}

TEST_CASE("Actors.AFactoryThatCrashesEveryTime" * doctest::timeout(180)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 2, .quiet = true});
  {
    auto p = shmray::actor(make_crashing_probe).options({.max_restarts = 3}).remote(0);
    auto call = p.task(&Probe::value).remote();
    CHECK_THROWS_AS(shmray::get(call, 60s), shmray::ActorDiedError);
    CHECK_THROWS(shmray::get(p.ready(), 60s));
    CHECK_THROWS_AS(shmray::get(p.task(&Probe::value).remote(), 60s), shmray::ActorDiedError);
    // The pool is fine.
    auto q = shmray::actor(make_probe).remote(8);
    CHECK(shmray::get(q.task(&Probe::value).remote(), 60s) == 8);
  }
  shmray::shutdown();
}
