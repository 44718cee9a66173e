// Misuse and hostile input around actors: empty, forged and stale handles fail cleanly
// (an exception or ActorDiedError, never a hang, a crash, or a call reaching another
// actor); max_actors exhausted says so, and a freed slot is usable again; calls from a
// thread a task started; an actor that waits on a task inside a method; fork() inside a
// method leaves the actor working.
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <shmray/shmray.hpp>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "actors/probe.hpp"
#include "api/gate.hpp"
#include "support/leak_check.hpp"
#include "support/procs.hpp"

using namespace std::chrono_literals;
using actor_test::eventually_dead;
using actor_test::make_probe;
using actor_test::Probe;
using ProbeHandle = shmray::ActorHandle<Probe>;

namespace {

int twice(int x) { return 2 * x; }
SHMRAY_REMOTE(twice);

// Methods that wait on tasks, and fork.
class Tricky {
 public:
  int ask(int x) {
    return shmray::get(shmray::task(twice).remote(x)) + shmray::get(shmray::task(twice).remote(x), 60s);
  }
  std::vector<int> ask_many(int n) {
    std::vector<shmray::ObjectRef<int>> refs;
    for (int i = 0; i < n; ++i) refs.push_back(shmray::task(twice).remote(i));
    return shmray::get(refs);
  }
  // fork(); the child leaves at once (code 0) or after trying the API (7: refused as it should be).
  int fork_child(bool use_api) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      if (!use_api) ::_exit(0);
      try {
        shmray::get(shmray::task(twice).remote(1));
      } catch (const shmray::ForkedProcessError&) {
        ::_exit(7);
      } catch (...) {
        ::_exit(8);
      }
      ::_exit(9);
    }
    if (pid < 0) return -1;
    int status = 0;
    if (::waitpid(pid, &status, 0) != pid) return -2;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
  }
  int pid() const { return ::getpid(); }
  int calls() { return ++calls_; }

 private:
  int calls_ = 0;
};
Tricky* make_tricky() { return new Tricky; }
SHMRAY_REMOTE(make_tricky);
SHMRAY_REMOTE(&Tricky::ask);
SHMRAY_REMOTE(&Tricky::ask_many);
SHMRAY_REMOTE(&Tricky::fork_child);
SHMRAY_REMOTE(&Tricky::pid);
SHMRAY_REMOTE(&Tricky::calls);

// A handle decoded from 8 raw bytes, as a task would from a forged record.
ProbeHandle decode_handle(std::uint64_t raw) {
  std::byte bytes[8];
  std::memcpy(bytes, &raw, 8);
  return shmray::detail::decode_value<ProbeHandle>(std::span<const std::byte>(bytes, 8));
}

// What calling add(1) through a forged handle does: "refused", "died", or something wrong.
std::string call_forged(std::uint64_t raw) {
  try {
    ProbeHandle h = decode_handle(raw);
    shmray::get(h.task(&Probe::add).remote(1), 30s);
    return "accepted";
  } catch (const std::invalid_argument&) {
    return "refused";
  } catch (const shmray::ActorDiedError&) {
    return "died";
  } catch (const std::exception& e) {
    return std::string("other: ") + e.what();
  }
}
std::vector<std::string> call_forged_all(std::vector<std::uint64_t> raws) {
  std::vector<std::string> out;
  for (std::uint64_t r : raws) out.push_back(call_forged(r));
  return out;
}
SHMRAY_REMOTE(call_forged_all);

int add_through(ProbeHandle p, int k) { return shmray::get(p.task(&Probe::add).remote(k)); }
SHMRAY_REMOTE(add_through);

// A task whose threads call the actor: each thread's calls in its order.
int calls_from_threads(shmray::ActorHandle<Tricky> t, int threads, int calls) {
  std::vector<std::thread> ts;
  std::vector<int> bad(std::size_t(threads), 0);
  for (int k = 0; k < threads; ++k)
    ts.emplace_back([&, k] {
      std::vector<shmray::ObjectRef<int>> refs;
      for (int i = 0; i < calls; ++i) refs.push_back(t.task(&Tricky::calls).remote());
      const std::vector<int> got = shmray::get(refs);
      for (std::size_t i = 1; i < got.size(); ++i) bad[std::size_t(k)] += got[i] <= got[i - 1];
    });
  for (auto& th : ts) th.join();
  int total_bad = 0;
  for (int b : bad) total_bad += b;
  return total_bad;
}
SHMRAY_REMOTE(calls_from_threads);

// A task that creates an actor and reports what became of it.
std::string create_in_task() {
  try {
    auto p = shmray::actor(make_probe).remote(1);
    shmray::get(p.ready(), 60s);
    return "created";
  } catch (const std::exception& e) {
    return e.what();
  }
}
SHMRAY_REMOTE(create_in_task);

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("Actors.EmptyAndForgedHandles" * doctest::timeout(180)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 2, .quiet = true});
  {
    ProbeHandle empty;
    CHECK_FALSE(empty);
    CHECK_THROWS_AS(empty.task(&Probe::add), std::invalid_argument);
    CHECK_THROWS_AS(shmray::kill(empty), std::invalid_argument);
    CHECK_THROWS_AS(shmray::get(empty.ready()), std::invalid_argument);

    auto real = shmray::actor(make_probe).remote(0);
    auto other = shmray::actor(make_tricky).remote();
    CHECK(shmray::get(real.task(&Probe::add).remote(1), 60s) == 1);
    auto plain = shmray::put(5);  // a live object that is no actor
    std::vector<std::uint64_t> raws;
    std::mt19937_64 rng(99);
    for (int i = 0; i < 50; ++i) raws.push_back(rng() | 1);
    const shmray::detail::ObjectId real_id = real.ready().id(), plain_id = plain.id();
    raws.push_back(shmray::detail::ObjectId::make(real_id.session(), real_id.gen() + 1, real_id.index()).value);
    raws.push_back(plain_id.value);            // live, not an actor
    raws.push_back(other.ready().id().value);  // an actor of another class
    for (std::uint64_t raw : raws) {
      CAPTURE(raw);
      const std::string what = call_forged(raw);
      if (raw == plain_id.value)
        CHECK(what == "died");
      else
        CHECK(what == "refused");
    }
    // The same forgeries inside a task: refused, or a call to no actor; never another actor's.
    const std::vector<std::string> in_task = shmray::get(shmray::task(call_forged_all).remote(raws), 120s);
    REQUIRE(in_task.size() == raws.size());
    for (std::size_t i = 0; i < raws.size(); ++i) {
      CAPTURE(raws[i]);
      CHECK((in_task[i] == "refused" || in_task[i] == "died"));
    }
    CHECK(shmray::get(real.task(&Probe::value).remote(), 60s) == 1);  // no forged call reached it
    CHECK(shmray::get(other.task(&Tricky::calls).remote(), 60s) == 1);
  }
  shmray::shutdown();
}

TEST_CASE("Actors.HandlesFromAnEarlierInit" * doctest::timeout(180)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 2, .quiet = true});
  ProbeHandle old = shmray::actor(make_probe).remote(10);
  CHECK(shmray::get(old.task(&Probe::add).remote(1), 60s) == 11);
  const int old_pid = shmray::get(old.task(&Probe::pid).remote(), 60s);
  shmray::shutdown();
  CHECK(eventually_dead(old_pid));
  CHECK_THROWS_AS(old.task(&Probe::add).remote(1), shmray::NotInitializedError);
  shmray::init({.num_workers = 2, .quiet = true});
  {
    auto fresh = shmray::actor(make_probe).remote(500);  // may well get the old one's id
    CHECK(shmray::get(fresh.task(&Probe::value).remote(), 60s) == 500);
    bool refused = false;
    try {
      auto r = old.task(&Probe::add).remote(1);
      CHECK_THROWS_AS(shmray::get(r, 30s), shmray::ActorDiedError);
    } catch (const std::invalid_argument&) {
      refused = true;
    } catch (const shmray::Error&) {
      refused = true;
    }
    MESSAGE("a call on an old handle was " << std::string(refused ? "refused" : "failed ActorDiedError"));
    CHECK_THROWS(shmray::kill(old));
    CHECK_FALSE(old == fresh);
    CHECK(shmray::get(fresh.task(&Probe::add).remote(1), 60s) == 501);  // untouched by the old handle
    // Passed to a task, the old handle is refused (when the arguments are encoded).
    CHECK_THROWS(shmray::task(add_through).remote(old, 1));
    CHECK(shmray::get(fresh.task(&Probe::value).remote(), 60s) == 501);
  }
  shmray::shutdown();
  old = ProbeHandle();  // released after shutdown: nothing to do
}

TEST_CASE("Actors.MaxActorsExhausted" * doctest::timeout(180)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 2, .quiet = true, .max_actors = 2});
  {
    auto a = std::make_unique<ProbeHandle>(shmray::actor(make_probe).remote(1));
    auto b = shmray::actor(make_probe).remote(2);
    CHECK(shmray::get(a->task(&Probe::value).remote(), 60s) == 1);
    try {
      auto c = shmray::actor(make_probe).remote(3);
      FAIL("a third actor was created");
    } catch (const shmray::Error& e) {
      CHECK(contains(e.what(), "max_actors"));
    }
    // Inside a task the refusal says the same, through the handle's ready().
    const std::string in_task = shmray::get(shmray::task(create_in_task).remote(), 60s);
    CHECK(contains(in_task, "max_actors"));
    // The slot of a dropped actor comes free once its process is gone.
    const int a_pid = shmray::get(a->task(&Probe::pid).remote(), 60s);
    a.reset();
    CHECK(eventually_dead(a_pid));
    ProbeHandle c;
    CHECK(shmray_test::eventually(
        [&c] {
          try {
            c = shmray::actor(make_probe).remote(3);
            return true;
          } catch (const shmray::Error&) {
            return false;
          }
        },
        30'000ms));
    REQUIRE(static_cast<bool>(c));
    CHECK(shmray::get(c.task(&Probe::value).remote(), 60s) == 3);
    // And a killed actor's.
    shmray::kill(b);
    ProbeHandle d;
    CHECK(shmray_test::eventually(
        [&d] {
          try {
            d = shmray::actor(make_probe).remote(4);
            return true;
          } catch (const shmray::Error&) {
            return false;
          }
        },
        30'000ms));
    REQUIRE(static_cast<bool>(d));
    CHECK(shmray::get(d.task(&Probe::value).remote(), 60s) == 4);
    CHECK(contains(shmray::get(shmray::task(create_in_task).remote(), 60s), "max_actors"));  // full again
  }
  shmray::shutdown();
}

TEST_CASE("Actors.ThreadsTasksAndForkInsideMethods" * doctest::timeout(180)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 2, .quiet = true});
  {
    auto t = shmray::actor(make_tricky).remote();
    const int pid = shmray::get(t.task(&Tricky::pid).remote(), 60s);
    // Calls from threads inside a task: each thread's in its order, none lost.
    CHECK(shmray::get(shmray::task(calls_from_threads).remote(t, 4, 200), 120s) == 0);
    CHECK(shmray::get(t.task(&Tricky::calls).remote(), 60s) == 4 * 200 + 1);
    // A method that waits on pool tasks.
    CHECK(shmray::get(t.task(&Tricky::ask).remote(21), 60s) == 84);
    const std::vector<int> many = shmray::get(t.task(&Tricky::ask_many).remote(50), 60s);
    REQUIRE(many.size() == 50);
    for (int i = 0; i < 50; ++i) CHECK(many[std::size_t(i)] == 2 * i);
    // fork() inside a method: the child goes, the actor stays.
    CHECK(shmray::get(t.task(&Tricky::fork_child).remote(false), 60s) == 0);
    CHECK(shmray::get(t.task(&Tricky::fork_child).remote(true), 60s) == 7);
    CHECK(shmray::get(t.task(&Tricky::calls).remote(), 60s) == 4 * 200 + 2);
    CHECK(shmray::get(t.task(&Tricky::ask).remote(1), 60s) == 4);
    CHECK(shmray::get(t.task(&Tricky::pid).remote(), 60s) == pid);
  }
  shmray::shutdown();
}
