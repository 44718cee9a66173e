// The task timeline (Options::timeline, SHMRAY_TIMELINE, shmray::timeline()): the file is
// Chrome trace JSON a strict parser takes (Python's json module, run as a child), with one
// slice per task attempt carrying its name and outcome, the driver's blocks, dependency
// arrows, nested slices for inline runs, and a crashed worker's last task.
#include <doctest/doctest.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <boost/process.hpp>
#include <shmray/shmray.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/child_role.hpp"
#include "support/leak_check.hpp"
#include "support/procs.hpp"

namespace {

namespace bp = boost::process;
using namespace std::chrono_literals;
using shmray::test::TempDir;

int square(int x) { return x * x; }
SHMRAY_REMOTE(square);
int add_one(int x) { return x + 1; }
SHMRAY_REMOTE(add_one);
int throws(int x) {
  if (x >= 0) throw std::runtime_error("boom");
  return x;
}
SHMRAY_REMOTE(throws);
// Throws once (the marker file does not exist yet), then returns: retry_exceptions runs it twice.
int flaky(std::string marker) {
  if (!shmray::test::file_exists(marker)) {
    shmray::test::append_line(marker, "1");
    throw std::runtime_error("first try");
  }
  return 7;
}
SHMRAY_REMOTE(flaky);
// Kills its own worker on the first try (the marker), then returns.
int dies_once(std::string marker) {
  if (!shmray::test::file_exists(marker)) {
    shmray::test::append_line(marker, "1");
    ::raise(SIGKILL);
  }
  return 5;
}
SHMRAY_REMOTE(dies_once);
// Says its pid, then waits to be killed (or for the release file).
int wait_for(std::string pid_file, std::string release) {
  shmray::test::append_line(pid_file, std::to_string(::getpid()));
  for (int i = 0; i < 3000 && !shmray::test::file_exists(release); ++i) std::this_thread::sleep_for(10ms);
  return 1;
}
SHMRAY_REMOTE(wait_for);
int parent(int x) { return shmray::get(shmray::task(square).options({.name = "inline child"}).remote(x)) + 1; }
SHMRAY_REMOTE(parent);

struct Slice {
  std::string name, function, outcome, error_type;
  int pid = 0, depth = 0;
  double ts = 0, dur = 0;
};
struct Parsed {
  std::vector<Slice> tasks;
  std::vector<std::string> blocks;
  int flows = 0;
  long dropped = -1;  // otherData.dropped_records
  std::string error;  // the parser's complaint, if any
};

// A strict parse (json.load, NaN and duplicate-free) by Python; it prints one line per event.
constexpr const char* kDump = R"(
import json, sys
def strict(pairs):
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)): raise ValueError('duplicate key')
    return dict(pairs)
def no_const(c): raise ValueError('not JSON: ' + c)
with open(sys.argv[1], encoding='utf-8') as f:
    t = json.load(f, object_pairs_hook=strict, parse_constant=no_const)
for e in t['traceEvents']:
    ph = e['ph']
    if ph == 'X' and e['cat'] == 'task':
        a = e['args']
        print('T\t' + '\t'.join(str(v) for v in [e['name'], a['function'], a['outcome'], a.get('error_type', ''),
              e['pid'], a['depth'], e['ts'], e['dur']]))
    elif ph == 'X' and e['cat'] == 'driver':
        print('B', e['name'])
    elif ph == 's':
        print('F')
print('D', t['otherData']['dropped_records'])
print('END')
)";

Parsed parse(const std::string& path) {
  bp::ipstream out, err;
  bp::child c("/usr/bin/python3", "-c", kDump, path, bp::env["PYTHONIOENCODING"] = "utf-8", bp::std_out > out,
              bp::std_err > err);
  Parsed p;
  std::string line;
  bool end = false;
  while (std::getline(out, line)) {
    if (line == "END") end = true;
    if (line.rfind("B ", 0) == 0) p.blocks.push_back(line.substr(2));
    if (line == "F") ++p.flows;
    if (line.rfind("D ", 0) == 0) p.dropped = std::stol(line.substr(2));
    if (line.rfind("T\t", 0) != 0) continue;
    // name, function, outcome, error_type, pid, depth, ts, dur: tab-separated (no name here has a tab)
    std::vector<std::string> f;
    std::stringstream in(line.substr(2));
    for (std::string part; std::getline(in, part, '\t');) f.push_back(part);
    REQUIRE(f.size() == 8);
    p.tasks.push_back({f[0], f[1], f[2], f[3], std::stoi(f[4]), std::stoi(f[5]), std::stod(f[6]), std::stod(f[7])});
  }
  for (std::string l; std::getline(err, l);) p.error += l + "\n";
  c.wait();
  if (c.exit_code() != 0 || !end) p.error += "python exit " + std::to_string(c.exit_code());
  // And what the trace viewers' importers need (slices that nest on each thread, flows inside
  // slices, ...): scripts/check_trace.py, the stand-in for opening the file in Perfetto.
  bp::ipstream checked;
  bp::child check("/usr/bin/python3", std::string(SHMRAY_SOURCE_ROOT) + "/scripts/check_trace.py", path,
                  bp::std_out > checked, bp::std_err > bp::null);
  std::string report;
  for (std::string l; std::getline(checked, l);) report += l + "\n";
  check.wait();
  if (check.exit_code() != 0) p.error += report;
  return p;
}

std::vector<Slice> named(const Parsed& p, const std::string& name) {
  std::vector<Slice> out;
  for (const Slice& s : p.tasks)
    if (s.name == name) out.push_back(s);
  return out;
}

// Unsets SHMRAY_TIMELINE for a case (the environment could carry one in).
struct NoEnv {
  NoEnv() { ::unsetenv("SHMRAY_TIMELINE"); }
};

}  // namespace

TEST_CASE("Timeline.OneSlicePerTaskWithNamesOutcomesAndArrows" * doctest::timeout(120)) {
  NoEnv no_env;
  TempDir dir;
  const std::string path = dir.file("t.json");
  {
    shmray::test::NoLeaks leaks;
    shmray::init({.num_workers = 2, .object_store_bytes = 16 << 20, .quiet = true, .timeline = path});
    std::vector<shmray::ObjectRef<int>> refs;
    for (int i = 0; i < 20; ++i) refs.push_back(shmray::task(square).remote(i));
    auto named_ref = shmray::task(square).options({.name = "the named one"}).remote(3);
    auto dep = shmray::task(add_one).remote(refs[0]);  // an arrow from square to add_one
    auto bad = shmray::task(throws).options({.max_retries = 0}).remote(1);
    auto again = shmray::task(flaky).options({.retry_exceptions = true}).remote(dir.file("flaky"));
    // Any bytes in a name: quotes, backslashes, control characters, invalid UTF-8 all stay JSON.
    auto odd = shmray::task(square).options({.name = "odd \"name\" \\ \x01\x7f\xff\xc3( \xe2\x82\xac"}).remote(2);
    CHECK(shmray::get(refs).size() == 20);
    CHECK(shmray::get(named_ref) == 9);
    CHECK(shmray::get(dep) == 1);
    CHECK_THROWS_AS(shmray::get(bad), shmray::TaskError);
    CHECK(shmray::get(again) == 7);
    CHECK(shmray::get(odd) == 4);
    shmray::shutdown();
  }
  const Parsed p = parse(path);
  REQUIRE_MESSAGE(p.error.empty(), p.error);
  CHECK(named(p, "square").size() == 20);
  for (const Slice& s : named(p, "square")) {
    CHECK(s.outcome == "ok");
    CHECK(s.function == "square");
    CHECK(s.pid > 0);
    CHECK(s.depth == 1);
  }
  REQUIRE(named(p, "the named one").size() == 1);
  CHECK(named(p, "the named one")[0].function == "square");
  REQUIRE(named(p, "add_one").size() == 1);
  REQUIRE(named(p, "throws").size() == 1);
  CHECK(named(p, "throws")[0].outcome == "error");
  CHECK(named(p, "throws")[0].error_type == "std::runtime_error");
  const auto f = named(p, "flaky");  // two attempts in place: retried, then ok
  REQUIRE(f.size() == 2);
  CHECK(f[0].outcome == "retried");
  CHECK(f[1].outcome == "ok");
  int odd_names = 0;
  for (const Slice& s : p.tasks) odd_names += s.name.rfind("odd \"name\" \\ \x01", 0) == 0;
  CHECK(odd_names == 1);
  CHECK(p.tasks.size() == 26);
  CHECK(p.flows >= 1);
  CHECK(!p.blocks.empty());  // the driver's gets
}

// Names are kept once each, and at most 65,536 of them (the empty one included): a run that
// names every task differently keeps the first names filed, then shows the function's,
// and a name kept still shows when it is used again.
TEST_CASE("Timeline.DistinctNamesAreBounded" * doctest::timeout(300)) {
  NoEnv no_env;
  TempDir dir;
  const std::string path = dir.file("t.json");
  constexpr int kNames = 65535, kMore = 100;
  {
    shmray::test::NoLeaks leaks;
    shmray::init({.num_workers = 2, .object_store_bytes = 64 << 20, .quiet = true, .timeline = path});
    std::vector<shmray::ObjectRef<int>> refs;
    refs.reserve(4096);
    for (int i = 0; i < kNames + kMore; ++i) {
      refs.push_back(shmray::task(square).options({.name = "n" + std::to_string(i)}).remote(1));
      if (refs.size() == 4096) {
        shmray::get(refs);
        refs.clear();
      }
    }
    shmray::get(refs);
    CHECK(shmray::get(shmray::task(square).options({.name = "n7"}).remote(2)) == 4);
    shmray::shutdown();
  }
  const Parsed p = parse(path);
  REQUIRE_MESSAGE(p.error.empty(), p.error);
  CHECK(p.tasks.size() == kNames + kMore + 1);
  std::set<std::string> shown;  // the names filed in time (tasks end in any order: which ones is not set)
  for (const Slice& t : p.tasks)
    if (t.name != "square") shown.insert(t.name);
  CHECK(shown.size() == kNames);
  CHECK(named(p, "n0").size() == 1);
  CHECK(named(p, "square").size() == kMore);
  CHECK(named(p, "n7").size() == 2);
}

// A worker never waits for the driver, so its ring must be drained while the driver sleeps:
// 20,000 tasks queued behind a gate run while the driver sleeps in get() of the last one (the
// worker wakes it when its ring is half full). Every one shows; nothing is dropped.
TEST_CASE("Timeline.BurstWhileTheDriverSleepsLosesNothing" * doctest::timeout(300)) {
  NoEnv no_env;
  TempDir dir;
  const std::string path = dir.file("t.json");
  constexpr int kTasks = 20000;
  {
    shmray::test::NoLeaks leaks;
    shmray::init({.num_workers = 1, .object_store_bytes = 64 << 20, .quiet = true, .max_workers = 1, .timeline = path});
    auto gate = shmray::task(wait_for).remote(dir.file("pid"), dir.file("open"));
    std::vector<shmray::ObjectRef<int>> refs;
    for (int i = 0; i < kTasks; ++i) refs.push_back(shmray::task(square).remote(i));
    shmray::test::append_line(dir.file("open"), "1");
    CHECK(shmray::get(refs.back()) == (kTasks - 1) * (kTasks - 1));
    CHECK(shmray::get(gate) == 1);
    shmray::shutdown();
  }
  const Parsed p = parse(path);
  REQUIRE_MESSAGE(p.error.empty(), p.error);
  CHECK(named(p, "square").size() == kTasks);
  CHECK(p.dropped == 0);
}

TEST_CASE("Timeline.CrashedWorkersLastTaskShows" * doctest::timeout(120)) {
  NoEnv no_env;
  TempDir dir;
  const std::string path = dir.file("t.json");
  double killed_after_us = 0;
  {
    shmray::test::NoLeaks leaks;
    shmray::init({.num_workers = 2, .object_store_bytes = 16 << 20, .quiet = true, .timeline = path});
    // Killed from outside while it runs: its slice ends when the driver reaped the worker.
    auto r = shmray::task(wait_for).options({.max_retries = 0}).remote(dir.file("pid"), dir.file("never"));
    shmray::test::wait_file(dir.file("pid"));
    const int pid = std::stoi(shmray::test::read_lines(dir.file("pid")).at(0));
    const auto t0 = std::chrono::steady_clock::now();
    std::this_thread::sleep_for(50ms);  // a slice measurably longer than the time to its start
    ::kill(pid, SIGKILL);
    CHECK_THROWS_AS(shmray::get(r), shmray::WorkerCrashedError);
    killed_after_us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
    // Dies by itself on the first try, then runs again: "crashed, retried", then "ok".
    CHECK(shmray::get(shmray::task(dies_once).remote(dir.file("died"))) == 5);
    shmray::shutdown();
  }
  const Parsed p = parse(path);
  REQUIRE_MESSAGE(p.error.empty(), p.error);
  const auto w = named(p, "wait_for");
  REQUIRE(w.size() == 1);
  CHECK(w[0].outcome == "crashed");
  CHECK(w[0].error_type == "WorkerCrashedError");
  CHECK(w[0].dur >= 50'000);  // it ran until the kill
  CHECK(w[0].dur < 50'000 + killed_after_us + 1'000'000);
  const auto d = named(p, "dies_once");
  REQUIRE(d.size() == 2);
  CHECK(d[0].outcome == "crashed, retried");
  CHECK(d[1].outcome == "ok");
  CHECK(d[0].pid != d[1].pid);  // a new worker process ran it again
}

TEST_CASE("Timeline.ForceCancelledAtItsTimeoutIsNoCrash" * doctest::timeout(120)) {
  NoEnv no_env;
  TempDir dir;
  const std::string path = dir.file("t.json");
  {
    shmray::test::NoLeaks leaks;
    shmray::init({.num_workers = 2, .object_store_bytes = 16 << 20, .quiet = true, .timeline = path});
    auto r = shmray::task(wait_for).options({.timeout = 300ms}).remote(dir.file("pid"), dir.file("never"));
    CHECK_THROWS_AS(shmray::get(r), shmray::TaskTimeoutError);
    CHECK(shmray::get(shmray::task(square).remote(3)) == 9);  // the pool goes on
    shmray::shutdown();
  }
  const Parsed p = parse(path);
  REQUIRE_MESSAGE(p.error.empty(), p.error);
  const auto w = named(p, "wait_for");
  REQUIRE(w.size() == 1);
  CHECK(w[0].outcome == "cancelled (worker killed)");
  CHECK(w[0].error_type.empty());
}

TEST_CASE("Timeline.DumpMidRunShowsFinishedAndRunning" * doctest::timeout(120)) {
  NoEnv no_env;
  TempDir dir;
  const std::string at_end = dir.file("end.json"), mid = dir.file("mid.json");
  {
    shmray::test::NoLeaks leaks;
    shmray::init({.num_workers = 2, .object_store_bytes = 16 << 20, .quiet = true, .timeline = at_end});
    CHECK(shmray::get(shmray::task(square).remote(4)) == 16);
    auto r = shmray::task(wait_for).remote(dir.file("pid"), dir.file("release"));
    shmray::test::wait_file(dir.file("pid"));
    shmray::timeline(mid);
    shmray::test::append_line(dir.file("release"), "go");
    CHECK(shmray::get(r) == 1);
    CHECK_THROWS_AS(shmray::timeline(dir.file("no/such/dir/t.json")), shmray::Error);
    shmray::shutdown();
  }
  const Parsed m = parse(mid);
  REQUIRE_MESSAGE(m.error.empty(), m.error);
  REQUIRE(named(m, "square").size() == 1);
  REQUIRE(named(m, "wait_for").size() == 1);
  CHECK(named(m, "wait_for")[0].outcome == "unfinished");
  const Parsed e = parse(at_end);
  REQUIRE_MESSAGE(e.error.empty(), e.error);
  REQUIRE(named(e, "wait_for").size() == 1);
  CHECK(named(e, "wait_for")[0].outcome == "ok");
}

TEST_CASE("Timeline.InlineRunIsANestedSlice" * doctest::timeout(120)) {
  NoEnv no_env;
  TempDir dir;
  const std::string path = dir.file("t.json");
  {
    shmray::test::NoLeaks leaks;
    // One worker and no extra: the child can only run inline, inside its parent.
    shmray::init({.num_workers = 1, .object_store_bytes = 16 << 20, .quiet = true, .max_workers = 1, .timeline = path});
    CHECK(shmray::get(shmray::task(parent).remote(3)) == 10);
    shmray::shutdown();
  }
  const Parsed p = parse(path);
  REQUIRE_MESSAGE(p.error.empty(), p.error);
  const auto outer = named(p, "parent"), inner = named(p, "inline child");
  REQUIRE(outer.size() == 1);
  REQUIRE(inner.size() == 1);
  CHECK(outer[0].depth == 1);
  CHECK(inner[0].depth == 2);
  CHECK(inner[0].function == "square");
  CHECK(inner[0].pid == outer[0].pid);
  CHECK(inner[0].ts >= outer[0].ts);
  CHECK(inner[0].ts + inner[0].dur <= outer[0].ts + outer[0].dur + 0.01);
}

namespace {
int env_role(const std::vector<std::string>&) {
  shmray::init({.num_workers = 2, .object_store_bytes = 16 << 20, .quiet = true});
  int sum = 0;
  for (int i = 0; i < 5; ++i) sum += shmray::get(shmray::task(square).remote(i));
  shmray::shutdown();
  return sum == 30 ? 0 : 1;
}
SHMRAY_TEST_ROLE("env", env_role);
}  // namespace

TEST_CASE("Timeline.EnvironmentVariableNamesTheFile" * doctest::timeout(120)) {
  NoEnv no_env;
  TempDir dir;
  const std::string path = dir.file("env.json");
  auto env = boost::this_process::environment();
  env["SHMRAY_TIMELINE"] = path;
  bp::child c(shmray::test::self_exe(), "--shmray-role=env", env, bp::std_err > bp::null);
  c.wait();
  REQUIRE(c.exit_code() == 0);
  const Parsed p = parse(path);
  REQUIRE_MESSAGE(p.error.empty(), p.error);
  CHECK(named(p, "square").size() == 5);
}

TEST_CASE("Timeline.OffWritesNoFile" * doctest::timeout(120)) {
  NoEnv no_env;
  TempDir dir;
  {
    shmray::test::NoLeaks leaks;
    ::chdir(dir.path().c_str());  // a relative default would land here
    shmray::init({.num_workers = 1, .object_store_bytes = 16 << 20, .quiet = true});
    CHECK(shmray::get(shmray::task(square).remote(2)) == 4);
    shmray::shutdown();
    ::chdir("/");
  }
  CHECK(!shmray::test::file_exists(dir.file("t.json")));
  int entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) (void)e, ++entries;
  CHECK(entries == 0);
  // timeline() with it off: a valid file without tasks.
  {
    shmray::test::NoLeaks leaks;
    shmray::init({.num_workers = 1, .object_store_bytes = 16 << 20, .quiet = true});
    CHECK(shmray::get(shmray::task(square).remote(2)) == 4);
    shmray::timeline(dir.file("off.json"));
    shmray::shutdown();
  }
  const Parsed p = parse(dir.file("off.json"));
  REQUIRE_MESSAGE(p.error.empty(), p.error);
  CHECK(p.tasks.empty());
}

TEST_CASE("Timeline.PlotScriptDrawsAPng" * doctest::timeout(180)) {
  NoEnv no_env;
  {
    bp::child probe("/usr/bin/python3", "-c", "import matplotlib", bp::std_err > bp::null);
    probe.wait();
    if (probe.exit_code() != 0) {
      MESSAGE("SKIPPED: python3-matplotlib is not installed (.ci/run installs it)");
      return;
    }
  }
  TempDir dir;
  const std::string path = dir.file("t.json"), png = dir.file("t.png");
  {
    shmray::test::NoLeaks leaks;
    shmray::init({.num_workers = 2, .object_store_bytes = 16 << 20, .quiet = true, .timeline = path});
    std::vector<shmray::ObjectRef<int>> refs;
    for (int i = 0; i < 8; ++i) refs.push_back(shmray::task(i % 2 ? square : add_one).remote(i));
    CHECK(shmray::get(refs).size() == 8);
    shmray::shutdown();
  }
  bp::child c("/usr/bin/python3", std::string(SHMRAY_SOURCE_ROOT) + "/scripts/plot_timeline.py", path, png,
              bp::std_out > bp::null);
  c.wait();
  REQUIRE(c.exit_code() == 0);
  std::ifstream in(png, std::ios::binary);
  char magic[8] = {};
  in.read(magic, 8);
  CHECK(std::string(magic + 1, 3) == "PNG");
}
