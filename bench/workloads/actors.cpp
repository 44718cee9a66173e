// Actor throughput (ours, issue 11): actor_calls_sync_per_s, actor_calls_async_per_s and
// actor_create_s, the actor counterparts of tasks_sync_per_s, tasks_async_per_s and startup_s
// (Ray's microbenchmark has the same three: 1:1 actor calls sync and async, actor creation).
#include "common.hpp"
#include "workloads.hpp"

namespace bench {

namespace {

/// The actor: echo(x) is noop(x) as a method, so the rows compare with the task rows.
class Echo {
 public:
  int echo(int x) { return x + zero_; }

 private:
  int zero_ = 0;  // a member read, so the call really goes through the object
};
Echo* make_echo() { return new Echo(); }
SHMRAY_REMOTE(make_echo);
SHMRAY_REMOTE(&Echo::echo);

/// N calls of echo(i), each got before the next. Seconds.
double calls_sync(const shmray::ActorHandle<Echo>& a, int n) {
  Stopwatch sw;
  for (int i = 0; i < n; ++i) check(shmray::get(a.task(&Echo::echo).remote(i)) == i, "echo(i) == i");
  return sw.seconds();
}

/// N calls of echo(i) submitted, then get(refs), all in order. Seconds: first submit to last
/// result in hand (as submit_then_get).
double calls_async(const shmray::ActorHandle<Echo>& a, int n) {
  std::vector<shmray::ObjectRef<int>> refs;
  refs.reserve(std::size_t(n));
  Stopwatch sw;
  for (int i = 0; i < n; ++i) refs.push_back(a.task(&Echo::echo).remote(i));
  const std::vector<int> got = shmray::get(refs);
  const double dt = sw.seconds();
  check(got.size() == std::size_t(n), "get(refs) returns N values");
  for (int i = 0; i < n; ++i) check(got[std::size_t(i)] == i, "echo(i) == i, in submission order");
  return dt;
}

/// One actor, created and ready (its factory ran), for a whole workload.
shmray::ActorHandle<Echo> ready_echo() {
  shmray::ActorHandle<Echo> a = shmray::actor(make_echo).remote();
  shmray::get(a.ready());
  return a;
}

}  // namespace

/// actor_calls_sync_per_s: one actor, one caller; N times call echo(i), get it, check it is
/// i. Figure N / elapsed (tasks_sync_per_s with a method call instead of a task).
Result actor_calls_sync_per_s(const Context& c) {
  const auto a = ready_echo();
  calls_sync(a, c.p.sync_warmup_n);
  const int n = c.p.sync_n;
  Result r = Result::ok(repeat(
      Reps(c.p, c.p.sync_reps), 0, [&] { return calls_sync(a, n); }, per_second(n)));
  r.extra.set("n", n);
  r.note = "one actor, created and ready before the window";
  return r;
}

/// actor_calls_async_per_s: one actor; submit N calls echo(i), then get all N in order.
/// Figure N / elapsed.
Result actor_calls_async_per_s(const Context& c) {
  const auto a = ready_echo();
  calls_async(a, c.p.async_warmup_n);
  const int n = c.p.actor_async_n;
  Result r = Result::ok(repeat(
      Reps(c.p, c.p.async_reps), 0, [&] { return calls_async(a, n); }, per_second(n)));
  r.extra.set("n", n);
  r.note = "one actor, created and ready before the window";
  return r;
}

/// actor_create_s: from just before actor(make_echo).remote() until the driver holds the
/// result of its first call echo(1). The handle is dropped after the window (the actor
/// stops then), so every repetition starts a new process.
Result actor_create_s(const Context& c) {
  auto once = [] {
    Stopwatch sw;
    shmray::ActorHandle<Echo> a = shmray::actor(make_echo).remote();
    const int v = shmray::get(a.task(&Echo::echo).remote(1));
    const double dt = sw.seconds();
    check(v == 1, "echo(1) == 1");
    return dt;
  };
  Result r = Result::ok(repeat(Reps(c.p, c.p.actor_create_reps), c.p.warmup ? 1 : 0, once, seconds));
  r.note = "actor(make_echo).remote() + get(echo(1)); the handle's release (actor stop) not timed";
  return r;
}

}  // namespace bench
