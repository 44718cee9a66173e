// The dashboard in a real browser: headless Chromium (Debian's `chromium`) loads the page
// while tasks run and the test reads the DOM it rendered: the live numbers the page's script
// fetched from /api/state. A screenshot is kept as dashboard-screenshot.png in the working
// directory (CI keeps it). Without Chromium the test fails, saying how to install it.
// Chromium's processes run in a process group of their own, which the test kills and reaps
// (the test binary is a child subreaper: its orphans come back to it), so none outlives it.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <shmray/shmray.hpp>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "api/gate.hpp"
#include "observe/http_check.hpp"
#include "support/leak_check.hpp"

using namespace std::chrono_literals;

namespace {

int work(int x) { return x + 1; }
SHMRAY_REMOTE(work);

int long_one(std::string gate) {
  shmray_test::wait_for_gate(gate);
  return 0;
}
SHMRAY_REMOTE(long_one);

std::string find_chromium() {
  for (const char* p : {"/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"})
    if (::access(p, X_OK) == 0) return p;
  return {};
}

// Live (not zombie) processes that belong to this browser run: members of process group
// `pgid`, and children of ours running a Chromium binary (its crash handler double-forks into
// a session of its own and, this binary being a subreaper, becomes our child).
std::vector<pid_t> browser_processes(pid_t pgid) {
  std::vector<pid_t> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream f(e.path() / "stat");
    std::string line;
    if (!std::getline(f, line)) continue;
    const std::size_t paren = line.rfind(')');
    if (paren == std::string::npos) continue;
    std::istringstream rest(line.substr(paren + 2));
    std::string state, ppid, pg;
    rest >> state >> ppid >> pg;
    if (state == "Z") continue;
    std::error_code ec2;
    const std::string exe = std::filesystem::read_symlink(e.path() / "exe", ec2).string();
    if (pg == std::to_string(pgid) || (ppid == std::to_string(::getpid()) && exe.find("chrom") != std::string::npos))
      out.push_back(static_cast<pid_t>(std::stol(name)));
  }
  return out;
}

// Runs Chromium with `args` (stdout into `out`), at most `limit`; then kills its whole
// process group and reaps every member. Returns its exit status (-1: it was killed).
int run_chromium(const std::string& exe, const std::vector<std::string>& args, const std::string& out,
                 std::chrono::seconds limit) {
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::setpgid(0, 0);
    const int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const int null = ::open((out + ".err").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(fd, 1);
    ::dup2(null, 2);
    ::close_range(3, ~0u, 0);  // nothing of ours (the pool's descriptors): Chromium aborts on stray ones
    std::vector<char*> argv{const_cast<char*>(exe.c_str())};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(exe.c_str(), argv.data());
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // also here: no race with the child's own call
  int status = -1;
  const auto until = std::chrono::steady_clock::now() + limit;
  for (;;) {
    int st = 0;
    if (::waitpid(pid, &st, WNOHANG) == pid) {
      status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
      break;
    }
    if (std::chrono::steady_clock::now() > until) break;
    std::this_thread::sleep_for(20ms);
  }
  // The browser if it overran, and whatever helpers it left: killed, then reaped (ours by
  // now, as their parents died); the pool's processes are never touched.
  const auto reap_until = std::chrono::steady_clock::now() + 20s;
  std::vector<pid_t> left = browser_processes(pid);
  while (std::chrono::steady_clock::now() < reap_until) {
    ::kill(-pid, SIGKILL);
    for (pid_t p : left) ::kill(p, SIGKILL);
    for (pid_t p : left) ::waitpid(p, nullptr, WNOHANG);
    while (::waitpid(-pid, nullptr, WNOHANG) > 0) {
    }
    left = browser_processes(pid);
    if (left.empty()) break;
    std::this_thread::sleep_for(20ms);
  }
  CHECK(left.empty());
  return status;
}

std::vector<std::string> browser_args(const std::string& profile) {
  return {"--headless",
          "--no-sandbox",
          "--disable-gpu",
          "--disable-dev-shm-usage",
          "--no-first-run",
          "--no-default-browser-check",
          "--disable-extensions",
          "--disable-background-networking",
          "--disable-component-update",
          "--disable-sync",
          "--mute-audio",
          "--user-data-dir=" + profile};
}

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

}  // namespace

TEST_CASE("DashboardBrowser.ChromiumRendersTheLiveNumbers" * doctest::timeout(240)) {
  const std::string exe = find_chromium();
  REQUIRE_MESSAGE(!exe.empty(),
                  "headless Chromium is needed for this test: apt-get install chromium (.ci/run installs it)");
  shmray::test::NoLeaks guard;
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("shmray-browser-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  struct RemoveAtEnd {  // also when a REQUIRE ends the case early
    std::filesystem::path p;
    ~RemoveAtEnd() {
      std::error_code ec;
      std::filesystem::remove_all(p, ec);
    }
  } remove_at_end{dir};
  shmray::init({.num_workers = 2, .quiet = true, .dashboard = "127.0.0.1:0"});
  const std::string url = shmray::stats().dashboard_url;
  std::vector<shmray::ObjectRef<int>> refs;
  for (int i = 0; i < 37; ++i) refs.push_back(shmray::task(work).remote(i));
  (void)shmray::get(refs);
  shmray_test::Gate gate;
  auto a = shmray::task(long_one).remote(gate.path());
  auto b = shmray::task(long_one).remote(gate.path());
  REQUIRE(shmray_test::eventually(
      [] {
        const auto s = shmray::stats();
        return s.tasks.running == 2 && s.tasks.finished == 37;
      },
      20s));

  auto args = browser_args((dir / "profile").string());
  args.insert(args.end(), {"--virtual-time-budget=5000", "--dump-dom", url});
  const std::string dom_path = (dir / "dom.html").string();
  CHECK(run_chromium(exe, args, dom_path, 120s) == 0);
  const std::string dom = slurp(dom_path);
  const std::string err = slurp(dom_path + ".err");
  CAPTURE(dom.substr(0, 4000));
  CAPTURE(err.substr(err.size() > 3000 ? err.size() - 3000 : 0));
  CHECK(dom.find("id=\"tasks-finished\">37<") != std::string::npos);
  CHECK(dom.find("id=\"tasks-running\">2<") != std::string::npos);
  CHECK(dom.find("id=\"workers-count\">2<") != std::string::npos);
  CHECK(dom.find("<td class=\"l\">long_one</td>") != std::string::npos);  // the workers' current task
  std::smatch m;
  CHECK(std::regex_search(dom, m, std::regex("id=\"updates\">([1-9][0-9]*)<")));

  // The screenshot, as CI's artifact (and, made this way, docs/dashboard.png).
  const std::string shot = (std::filesystem::current_path() / "dashboard-screenshot.png").string();
  auto shot_args = browser_args((dir / "profile").string());
  shot_args.insert(shot_args.end(), {"--virtual-time-budget=5000", "--hide-scrollbars", "--window-size=1000,900",
                                     "--screenshot=" + shot, url});
  CHECK(run_chromium(exe, shot_args, (dir / "shot.log").string(), 120s) == 0);
  CHECK(slurp(shot).substr(0, 8) == "\x89PNG\r\n\x1a\n");

  gate.open();
  CHECK(shmray::get(a) == 0);
  CHECK(shmray::get(b) == 0);
  shmray::shutdown();
}
