// get_list_fail_fast_s (ours): how soon get(list) reports a failure while an earlier ref of
// the list is still running.
//
// One repetition: t0; submit sleep_seconds(3) and fail_now() (which throws); get({sleeper,
// failer}); the figure is the time from t0 until that get throws (the failer's TaskError),
// submissions and the failer's run included. Then, untimed: force-cancel the sleeper (its
// worker is killed and replaced) and wait until get() says it was cancelled, so no repetition
// and no later workload waits out its 3 s.
#include "common.hpp"
#include "workloads.hpp"

namespace bench {

namespace {

constexpr double kSleeperS = 3.0;
constexpr double kCancelLimitS = 10.0;

double fail_now() { throw std::runtime_error("fail_now: failing on purpose"); }
SHMRAY_REMOTE(fail_now);

// Force-cancels the sleeper and waits for get() to report it (it must not report a value).
void cancel_sleeper(const shmray::ObjectRef<double>& sleeper) {
  shmray::cancel(sleeper, {.force = true});
  try {
    (void)shmray::get(sleeper, as_ns(kCancelLimitS));
  } catch (const shmray::TaskCancelledError&) {
    return;
  }
  throw CheckFailed("check failed: the force-cancelled sleeper returned a value");
}

double once() {
  const Stopwatch sw;
  const std::vector<shmray::ObjectRef<double>> refs = {shmray::task(sleep_seconds).remote(kSleeperS),
                                                       shmray::task(fail_now).remote()};
  double dt = -1;
  std::string caught;
  try {
    (void)shmray::get(refs);
    caught = "get returned every value";
  } catch (const shmray::TaskError& e) {
    dt = sw.seconds();
    caught = e.what();
  } catch (const std::exception& e) {
    caught = type_name(e) + ": " + e.what();
  }
  cancel_sleeper(refs[0]);
  check(dt >= 0, "get({sleeper, failer}) throws the failer's TaskError (got: " + caught + ")");
  check(caught.find("failing on purpose") != std::string::npos, "the error is the failer's: " + caught);
  return dt;
}

}  // namespace

/// get_list_fail_fast_s: seconds from submitting {sleep 3 s, throw} until get(list) throws.
Result get_list_fail_fast_s(const Context& c) {
  Result r = Result::ok(repeat(Reps(c.p, c.p.fail_fast_reps, false), 0, once, seconds));
  r.extra.set("sleeper_s", kSleeperS);
  r.note = "t0; submit sleep_seconds(3), fail_now(); get(both) throws; sleeper force-cancelled after, untimed";
  return r;
}

}  // namespace bench
