// Actors: state kept between calls, each caller's calls in order, handles that travel into
// tasks, names, errors that leave the actor alive, kill, and the destructor at the last
// handle's release.
#include <doctest/doctest.h>
#include <signal.h>
#include <unistd.h>

#include <shmray/shmray.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/leak_check.hpp"

using namespace std::chrono_literals;

namespace {

class Counter {
 public:
  explicit Counter(int start) : n_(start) {}
  int add(int k) { return n_ += k; }
  int value() const { return n_; }
  int pid() const { return ::getpid(); }
  int fail(int k) {
    if (k < 0) throw std::domain_error("negative");
    return n_;
  }
  std::vector<int> log(int k) {
    seen_.push_back(k);
    return seen_;
  }

 private:
  int n_;
  std::vector<int> seen_;
};
Counter* make_counter(int start) { return new Counter(start); }
SHMRAY_REMOTE(make_counter);
SHMRAY_REMOTE(&Counter::add);
SHMRAY_REMOTE(&Counter::value);
SHMRAY_REMOTE(&Counter::pid);
SHMRAY_REMOTE(&Counter::fail);
SHMRAY_REMOTE(&Counter::log);

// A task that calls the actor it is given.
int add_through(shmray::ActorHandle<Counter> c, int k) { return shmray::get(c.task(&Counter::add).remote(k)); }
SHMRAY_REMOTE(add_through);

// A task that finds the actor by name.
int add_by_name(std::string name, int k) {
  auto c = shmray::get_actor<Counter>(name);
  return shmray::get(c.task(&Counter::add).remote(k));
}
SHMRAY_REMOTE(add_by_name);

// Writes a file when destroyed: the test sees its destructor ran.
class Marker {
 public:
  explicit Marker(std::string path) : path_(std::move(path)) {}
  ~Marker() { std::ofstream(path_) << "gone"; }
  int ping() const { return 1; }

 private:
  std::string path_;
};
Marker* make_marker(std::string path) { return new Marker(std::move(path)); }
SHMRAY_REMOTE(make_marker);
SHMRAY_REMOTE(&Marker::ping);

Counter* make_failing(int) { throw std::runtime_error("no counter today"); }
SHMRAY_REMOTE(make_failing);

bool wait_for_file(const std::string& path, std::chrono::seconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (!std::filesystem::exists(path)) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

}  // namespace

TEST_CASE("Actors.StateAndOrderFromOneCaller" * doctest::timeout(120)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 2, .quiet = true});
  {
    auto c = shmray::actor(make_counter).remote(10);
    auto r = c.task(&Counter::add).remote(5);
    CHECK(shmray::get(r) == 15);
    CHECK(shmray::get(c.task(&Counter::value).remote()) == 15);
    std::vector<shmray::ObjectRef<std::vector<int>>> logs;
    for (int i = 0; i < 200; ++i) logs.push_back(c.task(&Counter::log).remote(i));
    const std::vector<int> last = shmray::get(logs.back());
    REQUIRE(last.size() == 200);
    for (int i = 0; i < 200; ++i) CHECK(last[i] == i);
    CHECK(shmray::get(c.task(&Counter::pid).remote()) != ::getpid());
  }
  shmray::shutdown();
}

TEST_CASE("Actors.HandlesTravelIntoTasksAndByName" * doctest::timeout(120)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 2, .quiet = true});
  {
    auto c = shmray::actor(make_counter).options({.name = "shared"}).remote(0);
    CHECK(shmray::get(shmray::task(add_through).remote(c, 3)) == 3);
    CHECK(shmray::get(shmray::task(add_by_name).remote(std::string("shared"), 4)) == 7);
    auto again = shmray::get_actor<Counter>("shared");
    CHECK(shmray::get(again.task(&Counter::value).remote()) == 7);
    CHECK_THROWS_AS(shmray::get_actor<Counter>("nobody"), shmray::ActorNotFoundError);
    CHECK_THROWS_AS(shmray::get_actor<Marker>("shared"), shmray::ActorNotFoundError);
    CHECK_THROWS_AS(shmray::actor(make_counter).options({.name = "shared"}).remote(1), std::invalid_argument);
    // A result ref pipelined into a task.
    auto r = c.task(&Counter::add).remote(1);
    CHECK(shmray::get(shmray::task(add_through).remote(c, 0)) == 8);
    (void)r;
  }
  shmray::shutdown();
}

TEST_CASE("Actors.AThrowingMethodLeavesTheActorAlive" * doctest::timeout(120)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 2, .quiet = true});
  {
    auto c = shmray::actor(make_counter).remote(2);
    CHECK_THROWS_AS(shmray::get(c.task(&Counter::fail).remote(-1)), shmray::TaskError);
    CHECK(shmray::get(c.task(&Counter::add).remote(1)) == 3);
    auto bad = shmray::actor(make_failing).remote(0);
    CHECK_THROWS_AS(shmray::get(bad.ready()), shmray::TaskError);
    CHECK_THROWS_AS(shmray::get(bad.task(&Counter::value).remote()), shmray::ActorDiedError);
  }
  shmray::shutdown();
}

TEST_CASE("Actors.KillAndRestart" * doctest::timeout(120)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 2, .quiet = true});
  {
    auto c = shmray::actor(make_counter).options({.max_restarts = 1}).remote(100);
    CHECK(shmray::get(c.task(&Counter::add).remote(1)) == 101);
    const int pid = shmray::get(c.task(&Counter::pid).remote());
    ::kill(pid, SIGKILL);
    // Restarted through its factory: the state is back to the start.
    CHECK(shmray::get(c.task(&Counter::value).remote(), 30s) == 100);
    const int pid2 = shmray::get(c.task(&Counter::pid).remote());
    CHECK(pid2 != pid);
    ::kill(pid2, SIGKILL);  // no restart left
    CHECK_THROWS_AS(shmray::get(c.task(&Counter::value).remote(), 30s), shmray::ActorDiedError);

    auto k = shmray::actor(make_counter).remote(0);
    CHECK(shmray::get(k.task(&Counter::add).remote(1)) == 1);
    shmray::kill(k);
    CHECK_THROWS_AS(shmray::get(k.task(&Counter::value).remote(), 30s), shmray::ActorDiedError);
  }
  shmray::shutdown();
}

TEST_CASE("Actors.TheLastHandleRunsTheDestructor" * doctest::timeout(120)) {
  shmray::test::NoLeaks guard;
  const std::string path = "/tmp/shmray_actor_marker_" + std::to_string(::getpid());
  std::filesystem::remove(path);
  shmray::init({.num_workers = 2, .quiet = true});
  {
    auto m = shmray::actor(make_marker).remote(path);
    CHECK(shmray::get(m.task(&Marker::ping).remote()) == 1);
    CHECK_FALSE(std::filesystem::exists(path));
  }
  CHECK(wait_for_file(path, 30s));
  shmray::shutdown();
  std::filesystem::remove(path);
}
