// ActorOptions: CPUs of the pool an actor holds, options out of range, and the calls a task
// makes on an actor it was given (kill inside a task), plus a creation cancelled before it ran.
#include <doctest/doctest.h>

#include <shmray/shmray.hpp>

#include <chrono>
#include <stdexcept>
#include <thread>

#include "support/leak_check.hpp"

using namespace std::chrono_literals;

namespace {

class Box {
 public:
  explicit Box(int v) : v_(v) {}
  int get() const { return v_; }
  int slow_get() const {
    std::this_thread::sleep_for(300ms);
    return v_;
  }

 private:
  int v_;
};
Box* make_box(int v) { return new Box(v); }
SHMRAY_REMOTE(make_box);
SHMRAY_REMOTE(&Box::get);
SHMRAY_REMOTE(&Box::slow_get);

int one() { return 1; }
SHMRAY_REMOTE(one);

int kill_it(shmray::ActorHandle<Box> b) {
  shmray::kill(b);
  return 0;
}
SHMRAY_REMOTE(kill_it);

// Creates an actor inside a task, calls it, and hands the handle back.
shmray::ActorHandle<Box> make_in_task(int v) {
  auto b = shmray::actor(make_box).remote(v);
  if (shmray::get(b.task(&Box::get).remote()) != v) throw std::logic_error("wrong value");
  return b;
}
SHMRAY_REMOTE(make_in_task);

}  // namespace

TEST_CASE("ActorOptions.OutOfRangeIsRefused" * doctest::timeout(120)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 2, .quiet = true});
  CHECK_THROWS_AS(shmray::actor(make_box).options({.max_restarts = -2}).remote(1), std::invalid_argument);
  CHECK_THROWS_AS(shmray::actor(make_box).options({.max_task_retries = -5}).remote(1), std::invalid_argument);
  CHECK_THROWS_AS(shmray::actor(make_box).options({.num_cpus = -1}).remote(1), std::invalid_argument);
  CHECK_THROWS_AS(shmray::actor(make_box).options({.num_cpus = 3}).remote(1), std::invalid_argument);
  CHECK_THROWS_AS(shmray::actor(make_box).options({.detached = true}).remote(1), std::invalid_argument);
  shmray::ActorHandle<Box> none;
  CHECK_THROWS(none.task(&Box::get));
  shmray::shutdown();
}

TEST_CASE("ActorOptions.NumCpusHoldsPoolSlotsUntilTheActorEnds" * doctest::timeout(120)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 1, .quiet = true});
  {
    auto b = shmray::actor(make_box).options({.num_cpus = 1}).remote(7);
    CHECK(shmray::get(b.task(&Box::get).remote(), 30s) == 7);
    // The pool's one CPU slot is the actor's: a task waits while the actor lives.
    auto t = shmray::task(one).remote();
    auto [ready, rest] = shmray::wait(std::vector{t}, {.num_returns = 1, .timeout = 300ms});
    CHECK(ready.empty());
    shmray::kill(b);
    CHECK(shmray::get(t, 30s) == 1);
  }
  shmray::shutdown();
}

TEST_CASE("ActorOptions.KillInsideATaskAndCreateInsideATask" * doctest::timeout(120)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 2, .quiet = true});
  {
    auto b = shmray::actor(make_box).remote(3);
    CHECK(shmray::get(b.task(&Box::get).remote()) == 3);
    CHECK(shmray::get(shmray::task(kill_it).remote(b), 30s) == 0);
    CHECK_THROWS_AS(shmray::get(b.task(&Box::get).remote(), 30s), shmray::ActorDiedError);

    auto made = shmray::get(shmray::task(make_in_task).remote(11), 30s);
    CHECK(shmray::get(made.task(&Box::get).remote(), 30s) == 11);
  }
  shmray::shutdown();
}

TEST_CASE("ActorOptions.ACreationCancelledBeforeItRanEndsTheActor" * doctest::timeout(120)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 2, .quiet = true, .max_actors = 1});
  {
    auto b = shmray::actor(make_box).remote(1);
    shmray::cancel(b.ready());  // usually still queued; if it ran already, nothing happens
    auto r = b.task(&Box::get).remote();
    int got = 0;
    try {
      got = shmray::get(r, 30s);  // it ran before the cancel
    } catch (const shmray::ActorDiedError&) {
      got = -1;
    }
    if (got == -1)
      CHECK_THROWS_AS(shmray::get(b.ready(), 30s), shmray::TaskCancelledError);
    else
      CHECK(got == 1);
  }
  // Its slot (the only one) frees once its process left: a new actor gets it.
  auto c = shmray::actor(make_box).remote(2);
  CHECK(shmray::get(c.task(&Box::get).remote(), 30s) == 2);
  shmray::shutdown();
}

namespace {
class Selfish {
 public:
  int one() const { return 1; }
  // Calls its own actor and waits: the call could only run after this method returns.
  int wait_on_self(shmray::ActorHandle<Selfish> self) const { return shmray::get(self.task(&Selfish::one).remote()); }
  // wait() that needs `n` of [a call to itself, a ready object] final.
  int wait_on_self_and_ready(shmray::ActorHandle<Selfish> self, std::size_t n) const {
    std::vector<shmray::ObjectRef<int>> refs{self.task(&Selfish::one).remote(), shmray::put(7)};
    auto w = shmray::wait(refs, {.num_returns = n});
    return static_cast<int>(w.ready.size());
  }
  // as_completed over calls to itself: the first step would never end.
  int stream_self(shmray::ActorHandle<Selfish> self) const {
    std::vector<shmray::ObjectRef<int>> refs{self.task(&Selfish::one).remote(), self.task(&Selfish::one).remote()};
    int sum = 0;
    for (auto& r : shmray::as_completed(refs)) sum += shmray::get(r);
    return sum;
  }
  // The same with a deadline: it times out instead (the caller chose to wait that long).
  int wait_on_self_briefly(shmray::ActorHandle<Selfish> self) const {
    try {
      return shmray::get(self.task(&Selfish::one).remote(), 200ms);
    } catch (const shmray::GetTimeoutError&) {
      return -1;
    }
  }
};
Selfish* make_selfish() { return new Selfish; }
SHMRAY_REMOTE(make_selfish);
SHMRAY_REMOTE(&Selfish::one);
SHMRAY_REMOTE(&Selfish::wait_on_self);
SHMRAY_REMOTE(&Selfish::wait_on_self_briefly);
SHMRAY_REMOTE(&Selfish::wait_on_self_and_ready);
SHMRAY_REMOTE(&Selfish::stream_self);
}  // namespace

TEST_CASE("ActorOptions.AMethodWaitingForItsOwnActorIsRefusedNotHung" * doctest::timeout(120)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 2, .quiet = true});
  {
    auto s = shmray::actor(make_selfish).remote();
    try {
      (void)shmray::get(s.task(&Selfish::wait_on_self).remote(s), 60s);
      FAIL("the wait on its own actor returned");
    } catch (const shmray::TaskError& e) {
      CHECK(std::string(e.what()).find("its own actor") != std::string::npos);
    }
    // wait() and as_completed() too, when the wait could not end without such a call.
    const auto refused = [](auto ref) {
      try {
        (void)shmray::get(ref, 60s);
        return std::string("it returned");
      } catch (const shmray::TaskError& e) {
        return std::string(e.what());
      }
    };
    CHECK(refused(s.task(&Selfish::wait_on_self_and_ready).remote(s, std::size_t{2})).find("its own actor") !=
          std::string::npos);
    CHECK(refused(s.task(&Selfish::stream_self).remote(s)).find("its own actor") != std::string::npos);
    // A wait that can end without it is not refused: the ready object is enough.
    CHECK(shmray::get(s.task(&Selfish::wait_on_self_and_ready).remote(s, std::size_t{1}), 60s) == 1);
    CHECK(shmray::get(s.task(&Selfish::wait_on_self_briefly).remote(s), 60s) == -1);
    CHECK(shmray::get(s.task(&Selfish::one).remote(), 30s) == 1);  // and it lives on
  }
  shmray::shutdown();
}
