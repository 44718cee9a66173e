// Ray's C++ actor API on shmray: ray::Actor(factory).Remote, handle.Task(&T::m).Remote,
// ray::GetActor, Kill, handles passed to tasks, and the errors of a dead actor (written
// after the actor cases of Ray's api_test.cc and cluster_mode_test.cc, our own code).
// C++17 with <ray/api.h> as the only API header, as a Ray user's program is.
#include <doctest/doctest.h>
#include <unistd.h>

#include <ray/api.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "dual_actor.hpp"
#include "support/leak_check.hpp"

namespace {

class Counter {
 public:
  explicit Counter(int start) : count_(start) {}
  /// Ray's examples spell the factory as a static member function.
  static Counter* FactoryCreate(int start) { return new Counter(start); }
  int Add(int x) { return count_ += x; }
  int Get() const { return count_; }
  void Reset() { count_ = 0; }
  std::vector<int> Log(int x) {
    seen_.push_back(x);
    return seen_;
  }
  int Pid() const { return static_cast<int>(::getpid()); }
  int Fail(int k) {
    if (k < 0) throw std::invalid_argument("negative " + std::to_string(k));
    return count_;
  }
  int NotRegistered() const { return 0; }

 private:
  int count_;
  std::vector<int> seen_;
};

Counter* CreateCounter(int start) { return new Counter(start); }
Counter* CreateFailing(int) { throw std::runtime_error("no counter today"); }
RAY_REMOTE(CreateCounter, Counter::FactoryCreate, CreateFailing, &Counter::Add, &Counter::Get, &Counter::Reset,
           &Counter::Log, &Counter::Pid, &Counter::Fail);

class Other {
 public:
  int Get() const { return 7; }
};
Other* CreateOther() { return new Other; }
RAY_REMOTE(CreateOther, &Other::Get);

// Tasks that use a handle they were given, or find by name.
int AddThrough(ray::ActorHandle<Counter> c, int k) { return *c.Task(&Counter::Add).Remote(k).Get(); }
int AddByName(std::string name, int k) {
  auto c = ray::GetActor<Counter>(name);
  if (!c) throw std::runtime_error("no actor named " + name);
  return *c->Task(&Counter::Add).Remote(k).Get();
}
// A task that starts an actor and returns its handle: the stored result keeps the actor.
ray::ActorHandle<Counter> StartInTask(int start) { return ray::Actor(CreateCounter).Remote(start); }
RAY_REMOTE(AddThrough, AddByName, StartInTask);

void InitPool() {
  ray::RayConfig config;
  config.head_args = {"--num-cpus=2"};
  ray::Init(config);
}

}  // namespace

TEST_CASE("RayActors.StateAndOrderOfCalls" * doctest::timeout(120)) {
  shmray::test::NoLeaks no_leaks;
  InitPool();
  {
    ray::ActorHandle<Counter> c = ray::Actor(CreateCounter).Remote(10);
    ray::ObjectRef<int> r = c.Task(&Counter::Add).Remote(5);
    CHECK(*r.Get() == 15);
    CHECK(*ray::Get(c.Task(&Counter::Get).Remote()) == 15);
    // An ObjectRef argument is resolved to its value before the method runs.
    CHECK(*c.Task(&Counter::Add).Remote(ray::Put(3)).Get() == 18);
    std::vector<ray::ObjectRef<std::vector<int>>> logs;
    for (int i = 0; i < 200; ++i) logs.push_back(c.Task(&Counter::Log).Remote(i));
    const std::shared_ptr<std::vector<int>> last = logs.back().Get();
    REQUIRE(last->size() == 200);
    for (int i = 0; i < 200; ++i) CHECK((*last)[i] == i);
    CHECK(*c.Task(&Counter::Pid).Remote().Get() != static_cast<int>(::getpid()));
    ray::ObjectRef<void> reset = c.Task(&Counter::Reset).Remote();
    reset.Get();
    CHECK(*c.Task(&Counter::Get).Remote().Get() == 0);
    CHECK(c.ID().size() == 16);
    // A copy names the same actor.
    ray::ActorHandle<Counter> copy = c;
    CHECK(copy.ID() == c.ID());
    CHECK(*copy.Task(&Counter::Add).Remote(2).Get() == 2);
    // The static-member spelling of a factory, as in Ray's examples.
    auto s = ray::Actor(Counter::FactoryCreate).Remote(40);
    CHECK(*s.Task(&Counter::Add).Remote(2).Get() == 42);
    // A factory's ObjectRef argument is resolved too.
    auto from_ref = ray::Actor(CreateCounter).Remote(ray::Put(7));
    CHECK(*from_ref.Task(&Counter::Get).Remote().Get() == 7);
  }
  ray::Shutdown();
}

TEST_CASE("RayActors.NamedLookup" * doctest::timeout(120)) {
  shmray::test::NoLeaks no_leaks;
  InitPool();
  {
    auto c = ray::Actor(CreateCounter).SetName("shared").Remote(0);
    CHECK(*c.Task(&Counter::Add).Remote(1).Get() == 1);
    boost::optional<ray::ActorHandle<Counter>> again = ray::GetActor<Counter>("shared");
    REQUIRE(again.has_value());
    CHECK(again->ID() == c.ID());
    CHECK(*again->Task(&Counter::Add).Remote(2).Get() == 3);
    CHECK_FALSE(ray::GetActor<Counter>("nobody").has_value());
    CHECK_FALSE(ray::GetActor<Counter>("").has_value());
    CHECK_FALSE(ray::GetActor<Other>("shared").has_value());  // its object is a Counter
    // Names are unique among live actors.
    CHECK_THROWS_AS(ray::Actor(CreateCounter).SetName("shared").Remote(5), ray::internal::RayException);
    // Found from inside a task.
    CHECK(*ray::Task(AddByName).Remote(std::string("shared"), 4).Get() == 7);
  }
  ray::Shutdown();
}

TEST_CASE("RayActors.KillThenRayActorException" * doctest::timeout(120)) {
  shmray::test::NoLeaks no_leaks;
  InitPool();
  {
    auto c = ray::Actor(CreateCounter).SetName("gone").Remote(0);
    CHECK(*c.Task(&Counter::Add).Remote(1).Get() == 1);
    c.Kill();
    CHECK_THROWS_AS(c.Task(&Counter::Get).Remote().Get(30000), ray::internal::RayActorException);
    CHECK_THROWS_AS(c.Task(&Counter::Get).Remote().Get(30000), ray::internal::RayException);  // its base
    CHECK_FALSE(ray::GetActor<Counter>("gone").has_value());

    // Kill(false) restarts it when SetMaxRestarts allows: the factory runs again, state is lost.
    auto r = ray::Actor(CreateCounter).SetMaxRestarts(1).SetName("phoenix").Remote(100);
    CHECK(*r.Task(&Counter::Add).Remote(1).Get() == 101);
    const int pid = *r.Task(&Counter::Pid).Remote().Get();
    r.Kill(false);
    CHECK(*r.Task(&Counter::Get).Remote().Get(30000) == 100);
    CHECK(*r.Task(&Counter::Pid).Remote().Get() != pid);
    r.Kill();  // no restart
    CHECK_THROWS_AS(r.Task(&Counter::Get).Remote().Get(30000), ray::internal::RayActorException);

    ray::ActorHandle<Counter> empty;
    CHECK_THROWS_AS(empty.Task(&Counter::Get), ray::internal::RayException);
    CHECK_THROWS_AS(empty.Kill(), ray::internal::RayException);
  }
  ray::Shutdown();
}

TEST_CASE("RayActors.HandlePassedToATaskAndReturnedFromOne" * doctest::timeout(120)) {
  shmray::test::NoLeaks no_leaks;
  InitPool();
  {
    auto c = ray::Actor(CreateCounter).Remote(0);
    CHECK(*ray::Task(AddThrough).Remote(c, 3).Get() == 3);
    // The task holds the actor while it runs, even when the caller's handle is gone.
    ray::ObjectRef<int> later;
    {
      auto temp = ray::Actor(CreateCounter).Remote(50);
      later = ray::Task(AddThrough).Remote(temp, 5);
    }
    CHECK(*later.Get() == 55);
    CHECK(*c.Task(&Counter::Get).Remote().Get() == 3);
    // A handle made inside a task, returned as its result.
    ray::ObjectRef<ray::ActorHandle<Counter>> made = ray::Task(StartInTask).Remote(20);
    ray::ActorHandle<Counter> h = *made.Get();
    CHECK(*h.Task(&Counter::Add).Remote(1).Get() == 21);
    // And one stored with Put.
    ray::ObjectRef<ray::ActorHandle<Counter>> put = ray::Put(c);
    CHECK(*put.Get()->Task(&Counter::Add).Remote(1).Get() == 4);
  }
  ray::Shutdown();
}

TEST_CASE("RayActors.ErrorsOfFactoriesAndMethods" * doctest::timeout(120)) {
  shmray::test::NoLeaks no_leaks;
  InitPool();
  {
    // A factory that throws: the handle comes back, its calls throw RayActorException.
    auto bad = ray::Actor(CreateFailing).Remote(0);
    CHECK_THROWS_WITH_AS(bad.Task(&Counter::Get).Remote().Get(30000), doctest::Contains("no counter today"),
                         ray::internal::RayActorException);
    // A method that throws leaves the actor alive.
    auto c = ray::Actor(CreateCounter).Remote(2);
    CHECK_THROWS_WITH_AS(c.Task(&Counter::Fail).Remote(-1).Get(), doctest::Contains("negative -1"),
                         ray::internal::RayTaskException);
    CHECK(*c.Task(&Counter::Add).Remote(1).Get() == 3);
    // Not registered with RAY_REMOTE.
    CHECK_THROWS_WITH_AS(c.Task(&Counter::NotRegistered), doctest::Contains("RAY_REMOTE"),
                         ray::internal::RayFunctionNotFound);
    // A resource this machine has none of.
    CHECK_THROWS_AS(ray::Actor(CreateCounter).SetResource("GPU", 1).Remote(0), ray::internal::RayException);
    // Its factory's invoker reads shmray's argument format (SHMRAY_REMOTE registered it first).
    CHECK_THROWS_WITH_AS(ray::Actor(ray_test::CreateDual), doctest::Contains("SHMRAY_REMOTE"),
                         ray::internal::RayFunctionNotFound);
    auto o = ray::Actor(CreateOther).Remote();
    CHECK(*o.Task(&Other::Get).Remote().Get() == 7);
  }
  ray::Shutdown();
}
