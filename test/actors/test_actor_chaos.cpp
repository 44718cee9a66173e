// Chaos with actors: for about 10 s, driver calls, pool tasks that call actors, actor methods
// that run pool tasks or call other actors, and results pipelined both ways, while a thread SIGKILLs a random
// pool worker or actor process every 20 ms. Everything may restart and retry without limit
// (max_restarts = max_task_retries = max_retries = -1), so every result must arrive, right,
// within a bounded wait: none lost, no hang.
//
// The waits are kept acyclic: pool tasks wait only for leaf actors (methods that never
// wait), and only relay actors (called by the driver alone) wait for pool tasks and leaf
// actors. A cycle (a task waiting on an actor whose running method waits on a task) can
// stall for good once every one of the max_workers workers is blocked in such a task: the
// documented cap on extra workers, not something a retry can undo.
#include <doctest/doctest.h>
#include <signal.h>
#include <unistd.h>

#include <shmray/shmray.hpp>

#include <atomic>
#include <chrono>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "api/gate.hpp"
#include "support/leak_check.hpp"
#include "support/procs.hpp"

using namespace std::chrono_literals;

namespace {

const shmray::TaskOptions kRetry{.max_retries = -1};
constexpr long kRound = 210;

long plus_one(long x) { return x + 1; }
SHMRAY_REMOTE(plus_one);

// Stateless methods: a retried or restarted call gives the same answer. A leaf never waits.
class Leaf {
 public:
  long triple(long x) const { return 3 * x; }
};
Leaf* make_leaf() { return new Leaf; }
SHMRAY_REMOTE(make_leaf);
SHMRAY_REMOTE(&Leaf::triple);

// Waits for a pool task or for a leaf actor inside its methods.
class Relay {
 public:
  long through_task(long x) const { return 3 * shmray::get(shmray::task(plus_one).options(kRetry).remote(x)); }
  long through_actor(shmray::ActorHandle<Leaf> leaf, long x) const {
    return shmray::get(leaf.task(&Leaf::triple).remote(x)) + 2;
  }
};
Relay* make_relay() { return new Relay; }
SHMRAY_REMOTE(make_relay);
SHMRAY_REMOTE(&Relay::through_task);
SHMRAY_REMOTE(&Relay::through_actor);

long via_actor(shmray::ActorHandle<Leaf> e, long x) { return shmray::get(e.task(&Leaf::triple).remote(x)) + 1; }
SHMRAY_REMOTE(via_actor);

// The actor processes of our pool: children of the fork server named by run_actor.
std::vector<int> actors_of() {
  std::vector<int> out;
  const int fs = shmray::test::fork_server_of();
  if (!fs) return out;
  for (const auto& p : shmray::test::all_processes())
    if (p.ppid == fs && p.comm == "shmray-actor" && p.state != 'Z') out.push_back(p.pid);
  return out;
}

struct Killer {
  std::atomic<bool> stop{false};
  std::atomic<int> worker_kills{0}, actor_kills{0};
  std::thread thread;
  Killer() {
    thread = std::thread([this] {
      std::mt19937 rng(4242);
      while (!stop) {
        std::this_thread::sleep_for(20ms);
        const bool actor = rng() % 2;
        const std::vector<int> pids = actor ? actors_of() : shmray::test::workers_of();
        if (pids.empty()) continue;
        if (::kill(pids[rng() % pids.size()], SIGKILL) == 0) ++(actor ? actor_kills : worker_kills);
      }
    });
  }
  ~Killer() { finish(); }
  void finish() {
    stop = true;
    if (thread.joinable()) thread.join();
  }
};

struct Round {
  std::vector<shmray::ObjectRef<long>> refs;
  std::vector<long> expect;
  void add(shmray::ObjectRef<long> r, long v) {
    refs.push_back(std::move(r));
    expect.push_back(v);
  }
};

struct Actors {
  std::vector<shmray::ActorHandle<Leaf>> leaves;
  shmray::ActorHandle<Relay> relay;
};

// One round of 210 results of six kinds, spread over the actors.
Round submit_round(const Actors& a, long base) {
  Round r;
  for (long i = base; i < base + kRound; ++i) {
    const auto& e = a.leaves[std::size_t(i / 6) % a.leaves.size()];
    switch (i % 6) {
      case 0: r.add(e.task(&Leaf::triple).remote(i), 3 * i); break;
      case 1: r.add(shmray::task(via_actor).options(kRetry).remote(e, i), 3 * i + 1); break;
      case 2: r.add(a.relay.task(&Relay::through_task).remote(i), 3 * (i + 1)); break;
      case 3: r.add(a.relay.task(&Relay::through_actor).remote(e, i), 3 * i + 2); break;
      case 4: r.add(e.task(&Leaf::triple).remote(shmray::task(plus_one).options(kRetry).remote(i)), 3 * (i + 1)); break;
      default: r.add(shmray::task(plus_one).options(kRetry).remote(e.task(&Leaf::triple).remote(i)), 3 * i + 1);
    }
  }
  return r;
}

}  // namespace

TEST_CASE("Actors.ChaosKillsLoseNoResult" * doctest::timeout(600)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 2, .quiet = true});
  {
    const shmray::ActorOptions forever{.max_restarts = -1, .max_task_retries = -1};
    Actors actors;
    for (int i = 0; i < 2; ++i) actors.leaves.push_back(shmray::actor(make_leaf).options(forever).remote());
    actors.relay = shmray::actor(make_relay).options(forever).remote();
    for (auto& a : actors.leaves) CHECK(shmray::get(a.task(&Leaf::triple).remote(1L), 60s) == 3);
    CHECK(shmray::get(actors.relay.task(&Relay::through_task).remote(1L), 60s) == 6);
    CHECK(shmray_test::eventually([] { return actors_of().size() == 3; }, 30'000ms));
    long results = 0, wrong = 0, lost = 0, base = 0;
    const auto t0 = std::chrono::steady_clock::now();
    {
      Killer killer;
      while (std::chrono::steady_clock::now() - t0 < 10s) {
        Round r = submit_round(actors, base);
        base += kRound;
        const auto w = shmray::wait(r.refs, {.num_returns = r.refs.size(), .timeout = 120s});
        lost += static_cast<long>(w.rest.size());
        if (!w.rest.empty()) break;  // a hang: stop here, reported below
        for (std::size_t k = 0; k < r.refs.size(); ++k) {
          try {
            wrong += shmray::get(r.refs[k]) != r.expect[k];
          } catch (const std::exception& e) {
            ++wrong;
            MESSAGE("result " << k << " of round at " << base << " failed: " << std::string(e.what()));
          }
        }
        results += static_cast<long>(r.refs.size());
      }
      killer.finish();
      MESSAGE("results: " << results << ", workers killed: " << killer.worker_kills.load()
                          << ", actors killed: " << killer.actor_kills.load());
      CHECK(killer.actor_kills.load() > 5);
      CHECK(killer.worker_kills.load() > 5);
    }
    CHECK(lost == 0);
    CHECK(wrong == 0);
    CHECK(results == base);
    // Whole afterwards: every actor answers.
    for (auto& a : actors.leaves) CHECK(shmray::get(a.task(&Leaf::triple).remote(2L), 60s) == 6);
    CHECK(shmray::get(actors.relay.task(&Relay::through_actor).remote(actors.leaves[0], 2L), 60s) == 8);
  }
  shmray::shutdown();
}
