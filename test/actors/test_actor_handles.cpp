// Actor handles travel: into tasks, into other actors' methods and factories, back out of a
// task as its result; method results are ordinary refs (pipelined into tasks and other
// actors' calls, waited on with wait()). Names: lookup from a task and from an actor's
// method, a detached actor that outlives its handles until kill, a name freed by the last
// handle's release.
#include <doctest/doctest.h>
#include <unistd.h>

#include <shmray/shmray.hpp>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "api/gate.hpp"
#include "support/leak_check.hpp"
#include "support/procs.hpp"

using namespace std::chrono_literals;

namespace {

class Counter {
 public:
  explicit Counter(int start) : n_(start) {}
  int add(int k) { return n_ += k; }
  int value() const { return n_; }
  int pid() const { return ::getpid(); }
  // Returns `k` once the gate file exists: a call that stays running until the test says.
  int gated(std::string gate, int k) {
    shmray_test::wait_for_gate(gate);
    return n_ += k;
  }

 private:
  int n_;
};
Counter* make_counter(int start) { return new Counter(start); }
SHMRAY_REMOTE(make_counter);
SHMRAY_REMOTE(&Counter::add);
SHMRAY_REMOTE(&Counter::value);
SHMRAY_REMOTE(&Counter::pid);
SHMRAY_REMOTE(&Counter::gated);

// An actor that calls other actors: one handle given to its factory, others to its methods.
class Relay {
 public:
  explicit Relay(shmray::ActorHandle<Counter> home) : home_(std::move(home)) {}
  int forward(shmray::ActorHandle<Counter> c, int k) { return shmray::get(c.task(&Counter::add).remote(k)); }
  int home_add(int k) { return shmray::get(home_.task(&Counter::add).remote(k)); }
  // Passes a handle on to a pool task from inside a method.
  int via_task(shmray::ActorHandle<Counter> c, int k);
  int by_name(std::string name) { return shmray::get(shmray::get_actor<Counter>(name).task(&Counter::value).remote()); }
  std::vector<int> fan_out(std::vector<shmray::ActorHandle<Counter>> cs, int k) {
    std::vector<shmray::ObjectRef<int>> refs;
    for (auto& c : cs) refs.push_back(c.task(&Counter::add).remote(k));
    return shmray::get(refs);
  }

 private:
  shmray::ActorHandle<Counter> home_;
};
Relay* make_relay(shmray::ActorHandle<Counter> home) { return new Relay(std::move(home)); }
SHMRAY_REMOTE(make_relay);
SHMRAY_REMOTE(&Relay::forward);
SHMRAY_REMOTE(&Relay::home_add);
SHMRAY_REMOTE(&Relay::via_task);
SHMRAY_REMOTE(&Relay::by_name);
SHMRAY_REMOTE(&Relay::fan_out);

int add_through(shmray::ActorHandle<Counter> c, int k) { return shmray::get(c.task(&Counter::add).remote(k)); }
SHMRAY_REMOTE(add_through);

int Relay::via_task(shmray::ActorHandle<Counter> c, int k) {
  return shmray::get(shmray::task(add_through).remote(c, k));
}

int twice(int x) { return 2 * x; }
SHMRAY_REMOTE(twice);

// A task that creates an actor and returns its handle: the handle outlives the task.
shmray::ActorHandle<Counter> spawn_counter(int start) { return shmray::actor(make_counter).remote(start); }
SHMRAY_REMOTE(spawn_counter);

// A task that reaches an actor by name (or reports that none is there).
int value_by_name(std::string name) {
  try {
    return shmray::get(shmray::get_actor<Counter>(name).task(&Counter::value).remote());
  } catch (const shmray::ActorNotFoundError&) {
    return -1;
  }
}
SHMRAY_REMOTE(value_by_name);

// A task that creates a detached named actor and drops its handle.
int create_detached(std::string name, int start) {
  auto c = shmray::actor(make_counter).options({.name = name, .detached = true}).remote(start);
  return shmray::get(c.task(&Counter::pid).remote());
}
SHMRAY_REMOTE(create_detached);

bool eventually_dead(int pid) {
  return shmray_test::eventually([pid] { return !shmray::test::process_alive(pid); }, 30'000ms);
}

}  // namespace

TEST_CASE("Actors.HandlesThroughTasksAndActors" * doctest::timeout(180)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 2, .quiet = true});
  {
    auto a = shmray::actor(make_counter).remote(0);
    auto b = shmray::actor(make_counter).remote(100);
    auto relay = shmray::actor(make_relay).remote(a);  // a handle as a factory argument
    CHECK(shmray::get(relay.task(&Relay::home_add).remote(1), 60s) == 1);
    CHECK(shmray::get(relay.task(&Relay::forward).remote(b, 5), 60s) == 105);  // a handle as a method argument
    CHECK(shmray::get(relay.task(&Relay::via_task).remote(a, 2), 60s) == 3);   // method -> task -> actor
    CHECK(shmray::get(shmray::task(add_through).remote(b, 1), 60s) == 106);    // task -> actor
    CHECK(shmray::get(relay.task(&Relay::fan_out).remote(std::vector{a, b, a}, 10), 60s) == std::vector{13, 116, 23});
    // Every path reached the same two objects.
    CHECK(shmray::get(a.task(&Counter::value).remote(), 60s) == 23);
    CHECK(shmray::get(b.task(&Counter::value).remote(), 60s) == 116);

    // A handle that comes back out of a task as its result.
    shmray::ObjectRef<shmray::ActorHandle<Counter>> made = shmray::task(spawn_counter).remote(40);
    shmray::ActorHandle<Counter> c = shmray::get(made, 60s);
    REQUIRE(static_cast<bool>(c));
    CHECK(shmray::get(c.task(&Counter::add).remote(2), 60s) == 42);
    CHECK(shmray::get(relay.task(&Relay::forward).remote(c, 1), 60s) == 43);
    // Copies are the same actor.
    shmray::ActorHandle<Counter> c2 = c;
    CHECK(c2 == c);
    CHECK_FALSE(c2 == a);
  }
  shmray::shutdown();
}

TEST_CASE("Actors.MethodResultsAreOrdinaryRefs" * doctest::timeout(180)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 2, .quiet = true});
  {
    auto a = shmray::actor(make_counter).remote(0);
    auto b = shmray::actor(make_counter).remote(1000);
    // A method's result as a task's argument, and a task's as a method's.
    shmray::ObjectRef<int> r = a.task(&Counter::add).remote(21);
    shmray::ObjectRef<int> t = shmray::task(twice).remote(r);
    CHECK(shmray::get(t, 60s) == 42);
    CHECK(shmray::get(b.task(&Counter::add).remote(t), 60s) == 1042);
    CHECK(shmray::get(b.task(&Counter::add).remote(a.task(&Counter::add).remote(1)), 60s) == 1064);
    // A call waits for its argument; the caller's later calls wait behind it.
    shmray_test::Gate gate;
    auto slow = a.task(&Counter::gated).remote(gate.path(), 100);  // running on a
    auto dependent = b.task(&Counter::add).remote(slow);           // waits for slow's result
    auto after = b.task(&Counter::add).remote(1);                  // waits behind `dependent`
    auto [ready, rest] = shmray::wait(std::vector{dependent, after}, {.num_returns = 1, .timeout = 200ms});
    CHECK(ready.empty());  // neither can run before the gate opens
    CHECK(rest.size() == 2);
    gate.open();
    std::vector<shmray::ObjectRef<int>> all{after, dependent, slow};
    auto waited = shmray::wait(all, {.num_returns = all.size(), .timeout = 60s});
    CHECK(waited.ready.size() == 3);
    CHECK(shmray::get(slow) == 122);
    CHECK(shmray::get(dependent) == 1064 + 122);
    CHECK(shmray::get(after) == 1064 + 122 + 1);  // in order: after `dependent`
    // wait() over many method results of several actors.
    std::vector<shmray::ObjectRef<int>> many;
    for (int i = 0; i < 100; ++i) many.push_back((i % 2 ? a : b).task(&Counter::add).remote(1));
    auto w = shmray::wait(many, {.num_returns = many.size(), .timeout = 60s});
    CHECK(w.ready.size() == many.size());
    CHECK(shmray::get(many.back()) == 122 + 50);
  }
  shmray::shutdown();
}

TEST_CASE("Actors.NamesFromTasksAndDetachedActors" * doctest::timeout(180)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 2, .quiet = true});
  {
    auto n = shmray::actor(make_counter).options({.name = "named"}).remote(5);
    CHECK(shmray::get(shmray::task(value_by_name).remote(std::string("named")), 60s) == 5);
    CHECK(shmray::get(shmray::task(value_by_name).remote(std::string("absent")), 60s) == -1);
    auto relay = shmray::actor(make_relay).remote(n);
    CHECK(shmray::get(relay.task(&Relay::by_name).remote(std::string("named")), 60s) == 5);
  }
  {
    // A detached named actor made in the driver: its handle goes, it stays, with its state.
    int pid = 0;
    {
      auto d = shmray::actor(make_counter).options({.name = "keeper", .detached = true}).remote(1);
      CHECK(shmray::get(d.task(&Counter::add).remote(1), 60s) == 2);
      pid = shmray::get(d.task(&Counter::pid).remote(), 60s);
    }
    auto again = shmray::get_actor<Counter>("keeper");
    CHECK(shmray::get(again.task(&Counter::add).remote(1), 60s) == 3);
    CHECK(shmray::get(shmray::task(value_by_name).remote(std::string("keeper")), 60s) == 3);
    CHECK(shmray::test::process_alive(pid));
    shmray::kill(again);
    CHECK_THROWS_AS(shmray::get(again.task(&Counter::value).remote(), 60s), shmray::ActorDiedError);
    CHECK_THROWS_AS(shmray::get_actor<Counter>("keeper"), shmray::ActorNotFoundError);
    CHECK(eventually_dead(pid));
    // Its name is free again.
    auto reborn = shmray::actor(make_counter).options({.name = "keeper"}).remote(9);
    CHECK(shmray::get(shmray::get_actor<Counter>("keeper").task(&Counter::value).remote(), 60s) == 9);
  }
  {
    // One made inside a task (whose handle went with the task) is found by the driver.
    const int pid = shmray::get(shmray::task(create_detached).remote(std::string("from_task"), 70), 60s);
    auto d = shmray::get_actor<Counter>("from_task");
    CHECK(shmray::get(d.task(&Counter::add).remote(1), 60s) == 71);
    CHECK(shmray::get(d.task(&Counter::pid).remote(), 60s) == pid);
    shmray::kill(d);
    CHECK(eventually_dead(pid));
    CHECK_THROWS_AS(shmray::get_actor<Counter>("from_task"), shmray::ActorNotFoundError);
  }
  {
    // A named, not detached actor: its name goes with its last handle, and so does its process.
    int pid = 0;
    {
      auto t = shmray::actor(make_counter).options({.name = "transient"}).remote(0);
      pid = shmray::get(t.task(&Counter::pid).remote(), 60s);
    }
    CHECK(eventually_dead(pid));
    CHECK_THROWS_AS(shmray::get_actor<Counter>("transient"), shmray::ActorNotFoundError);
  }
  // A detached actor still alive at shutdown ends with it (the guard checks its process is gone).
  auto last = shmray::actor(make_counter).options({.name = "until_shutdown", .detached = true}).remote(0);
  CHECK(shmray::get(last.task(&Counter::value).remote(), 60s) == 0);
  shmray::shutdown();
}

TEST_CASE("Actors.NameIsFreeTheMomentItsActorIsKilledOrDropped" * doctest::timeout(180)) {
  // kill() and the last handle's release free the name at once: the process may still be
  // leaving, but a new actor of that name is made without waiting for its exit report
  // (a sanitizer build's slow exit made this fail under TSan).
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 2, .quiet = true});
  for (int round = 0; round < 10; ++round) {
    auto d = shmray::actor(make_counter).options({.name = "again", .detached = true}).remote(round);
    REQUIRE(shmray::get(d.task(&Counter::value).remote(), 60s) == round);
    shmray::kill(d);
    CHECK_THROWS_AS(shmray::get_actor<Counter>("again"), shmray::ActorNotFoundError);
    auto next = shmray::actor(make_counter).options({.name = "again"}).remote(100 + round);
    REQUIRE(shmray::get(shmray::get_actor<Counter>("again").task(&Counter::value).remote(), 60s) == 100 + round);
    next = {};  // the last handle of a non-detached actor goes: its name is free at once too
    auto third = shmray::actor(make_counter).options({.name = "again"}).remote(200 + round);
    REQUIRE(shmray::get(third.task(&Counter::value).remote(), 60s) == 200 + round);
  }
  shmray::shutdown();
}
