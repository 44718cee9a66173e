// However the driver ends (SIGKILL, exit without shutdown, _exit, an uncaught exception),
// no worker or fork server survives it by more than a second and nothing is left in
// /dev/shm. The driver is this binary again, in the role "driver", started with
// Boost.Process.
#include <doctest/doctest.h>
#include <signal.h>
#include <unistd.h>

#include <boost/process.hpp>
#include <shmray/shmray.hpp>

#include <chrono>
#include <iostream>
#include <sstream>
#include <thread>

#include "support/child_role.hpp"
#include "support/leak_check.hpp"
#include "support/procs.hpp"
#include "support/sanitized.hpp"

namespace {

namespace bp = boost::process;
using namespace std::chrono_literals;

int long_task(int x) {
  std::this_thread::sleep_for(30s);
  return x;
}
SHMRAY_REMOTE(long_task);

int nested_long(int x) { return shmray::get(shmray::task(long_task).remote(x)); }
SHMRAY_REMOTE(nested_long);

// The driver: starts a pool with work in flight, prints its pool's pids, then ends as told.
int driver_role(const std::vector<std::string>& args) {
  const std::string how = args.empty() ? "wait" : args[0];
  shmray::init({.num_workers = 2, .object_store_bytes = 16 << 20, .quiet = true});
  std::vector<shmray::ObjectRef<int>> refs;
  for (int i = 0; i < 4; ++i) refs.push_back(shmray::task(i % 2 ? long_task : nested_long).remote(i));
  auto big = shmray::put(std::vector<double>(1 << 20, 1.0));
  std::this_thread::sleep_for(100ms);  // let the tasks start
  std::ostringstream line;
  line << "PIDS " << shmray::test::fork_server_of();
  for (int w : shmray::test::workers_of()) line << ' ' << w;
  std::cout << line.str() << std::endl;
  if (how == "exit") std::exit(0);
  if (how == "_exit") ::_exit(0);
  if (how == "throw") throw std::runtime_error("uncaught");
  std::this_thread::sleep_for(60s);  // "kill": the test kills us meanwhile
  return 0;
}
SHMRAY_TEST_ROLE("driver", driver_role);

void run_and_check(const std::string& how) {
  CAPTURE(how);
  const auto shm_before = shmray::test::dev_shm_entries();
  bp::ipstream out;
  bp::child c(shmray::test::self_exe(), "--shmray-role=driver", how, bp::std_out > out, bp::std_err > bp::null);
  std::string line;
  REQUIRE(std::getline(out, line));
  std::istringstream in(line);
  std::string tag;
  std::vector<int> pids;
  in >> tag;
  for (int p; in >> p;) pids.push_back(p);
  REQUIRE(tag == "PIDS");
  // The fork server and 2 workers, or 3: a nested_long whose child was claimed by the other
  // worker before it could run it inline is blocked on a task running elsewhere, and the
  // pool legitimately starts an extra worker (max_workers). Every listed pid is checked below
  // and the subreaper check catches any unlisted one.
  REQUIRE(pids.size() >= 3);
  const auto t0 = std::chrono::steady_clock::now();
  if (how == "kill") ::kill(c.id(), SIGKILL);
  c.wait();
  // Every pool process must be gone within a second (this binary is a subreaper: orphans
  // come back to us as zombies, which live_children() reaps). Sanitized processes take
  // longer to tear down their shadow memory when the machine is busy: 5 s there.
  const auto limit = shmray::test::kSanitized ? 5s : 1s;
  for (;;) {
    shmray::test::live_children();
    bool any = false;
    for (int p : pids) any = any || shmray::test::process_alive(p);
    if (!any || std::chrono::steady_clock::now() - t0 > limit) {
      CHECK_FALSE(any);
      break;
    }
    std::this_thread::sleep_for(2ms);
  }
  CHECK(shmray::test::dev_shm_entries() == shm_before);
  CHECK(shmray::test::live_children().empty());
}

}  // namespace

TEST_CASE("DriverDeath.SigkillLeavesNothing" * doctest::timeout(60)) { run_and_check("kill"); }
TEST_CASE("DriverDeath.ExitWithoutShutdownLeavesNothing" * doctest::timeout(60)) { run_and_check("exit"); }
TEST_CASE("DriverDeath.UnderscoreExitLeavesNothing" * doctest::timeout(60)) { run_and_check("_exit"); }
TEST_CASE("DriverDeath.UncaughtExceptionLeavesNothing" * doctest::timeout(60)) { run_and_check("throw"); }
