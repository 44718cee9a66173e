// shmray_bench: runs the peers' workloads (/work/shared/peers/README.md) on shmray and prints
// `median [min-max] n=reps` per workload, like peers.py; --json writes the same layout as
// peers.py --json with one peer, "shmray".
//
//   shmray_bench                      # full mode (peers' full parameters and repetition rule)
//   shmray_bench --quick              # peers' quick parameters: 1 repetition, small N
//   shmray_bench --only tasks_sync_per_s,pipeline_large_s
//   shmray_bench --json out.json --workers 2
//
// How it runs (as peers.py's child does): startup_s first (a cold pool per repetition); then
// one shared pool, warmed with 8 no-op tasks, for every Pool::kShared workload; workloads with
// their own pools (Pool::kOwn) run after the shared pool has been shut down. A watchdog
// (SIGALRM) ends the program if one workload exceeds the mode's limit, leaving the JSON with
// what finished and the stuck workload marked as an error.
#include <cxxabi.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <shmray/shmray.hpp>
#include <string>
#include <typeinfo>
#include <vector>

#include "bench.hpp"
#include "proc.hpp"

namespace bench {

// ---------------------------------------------------------------------------- parameters

Params Params::full() {
  Params p;
  p.mode = "full";
  return p;  // the defaults in bench.hpp are peers.py's full PARAMS
}

Params Params::quick() {
  Params p;
  p.mode = "quick";
  p.max_reps = 1;
  p.rep_budget_s = 0.0;
  p.startup_reps = 1;
  p.sync_n = 100, p.sync_reps = 1, p.sync_warmup_n = 10;
  p.async_n = 1000, p.async_reps = 1, p.async_warmup_n = 100;
  p.warmup = false;
  p.batch_size = 1000, p.batch_reps = 1;
  p.wait_n = 1000, p.wait_reps = 1;
  p.put_reps = 1;
  p.pipeline_reps = 1;
  p.demo_unit_s = 0.1, p.demo_reps = 1;
  p.fib_n = 10, p.fib_reps = 1, p.fib_limit_s = 30.0;
  p.cancel_reps = 1, p.cancel_new_task_limit_s = 3.0;
  p.crash_reps = 1, p.crash_limit_s = 5.0;
  p.idle_window_s = 5.0, p.idle_reps = 1;
  p.crash_retry_reps = 1;
  p.queued_n = 100000, p.queued_reps = 1;
  p.syscalls_n = 2000, p.syscalls_reps = 1;
  p.actor_async_n = 1000, p.actor_create_reps = 1;
  p.drain_reps = 1;
  p.release_reps = 3;
  p.fail_fast_reps = 1;
  p.workload_limit_s = 90.0;
  return p;
}

Json Params::to_json() const {
  Json o = Json::object();
  o.set("max_reps", max_reps);
  o.set("rep_budget_s", rep_budget_s);
  o.set("startup_reps", startup_reps);
  o.set("sync_n", sync_n), o.set("sync_reps", sync_reps), o.set("sync_warmup_n", sync_warmup_n);
  o.set("async_n", async_n), o.set("async_reps", async_reps), o.set("async_warmup_n", async_warmup_n);
  o.set("warmup", warmup);
  o.set("batch_size", batch_size), o.set("batch_reps", batch_reps);
  o.set("wait_n", wait_n), o.set("wait_reps", wait_reps);
  o.set("put_reps", put_reps);
  o.set("pipeline_reps", pipeline_reps);
  o.set("demo_unit_s", demo_unit_s), o.set("demo_reps", demo_reps);
  o.set("fib_n", fib_n), o.set("fib_reps", fib_reps), o.set("fib_limit_s", fib_limit_s);
  o.set("cancel_reps", cancel_reps), o.set("cancel_new_task_limit_s", cancel_new_task_limit_s);
  o.set("crash_reps", crash_reps), o.set("crash_limit_s", crash_limit_s);
  o.set("idle_window_s", idle_window_s), o.set("idle_reps", idle_reps);
  o.set("crash_retry_reps", crash_retry_reps);
  o.set("queued_n", queued_n), o.set("queued_reps", queued_reps);
  o.set("syscalls_n", syscalls_n), o.set("syscalls_reps", syscalls_reps);
  o.set("actor_async_n", actor_async_n), o.set("actor_create_reps", actor_create_reps);
  o.set("drain_n", drain_n), o.set("drain_reps", drain_reps);
  o.set("release_reps", release_reps);
  o.set("fail_fast_reps", fail_fast_reps);
  o.set("workload_limit_s", workload_limit_s);
  return o;
}

void progress(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  std::vfprintf(stderr, fmt, ap);
  va_end(ap);
  std::fputc('\n', stderr);
}

}  // namespace bench

namespace {

using namespace bench;

// ---------------------------------------------------------------------------- options

struct Args {
  bool quick = false;
  std::string only;
  std::string json;
  unsigned workers = 2;
};

[[noreturn]] void usage(int code) {
  std::fprintf(code ? stderr : stdout,
               "usage: shmray_bench [--quick] [--only NAME[,NAME...]] [--json FILE] [--workers N]\n"
               "  --quick      the peers' quick parameters (1 repetition, small N)\n"
               "  --only       run only these workloads (names as in the table)\n"
               "  --json FILE  also write every figure and repetition, in peers.py's JSON layout\n"
               "  --workers N  workers of the shared pool, startup, idle and rss (default 2)\n"
               "workloads:");
  for (const Workload& w : registry()) std::fprintf(code ? stderr : stdout, " %s", w.name);
  std::fprintf(code ? stderr : stdout, "\n");
  std::exit(code);
}

Args parse_args(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string s = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "shmray_bench: %s needs a value\n", s.c_str());
        usage(2);
      }
      return argv[++i];
    };
    if (s == "--quick") {
      a.quick = true;
    } else if (s == "--only") {
      a.only = value();
    } else if (s == "--json") {
      a.json = value();
    } else if (s == "--workers") {
      const std::string v = value();
      char* end = nullptr;
      const long n = std::strtol(v.c_str(), &end, 10);
      if (end == v.c_str() || *end || n < 1 || n > 1024) {
        std::fprintf(stderr, "shmray_bench: --workers wants 1..1024, got '%s'\n", v.c_str());
        usage(2);
      }
      a.workers = static_cast<unsigned>(n);
    } else if (s == "-h" || s == "--help") {
      usage(0);
    } else {
      std::fprintf(stderr, "shmray_bench: unknown argument '%s'\n", s.c_str());
      usage(2);
    }
  }
  return a;
}

std::vector<const Workload*> select(const std::string& only) {
  std::vector<const Workload*> out;
  if (only.empty()) {
    for (const Workload& w : registry()) out.push_back(&w);
    return out;
  }
  std::vector<std::string> names;
  for (std::size_t pos = 0; pos <= only.size();) {
    const std::size_t comma = std::min(only.find(',', pos), only.size());
    std::string n = only.substr(pos, comma - pos);
    n.erase(0, n.find_first_not_of(" \t"));
    n.erase(n.find_last_not_of(" \t") + 1);
    if (!n.empty() && n != "shmray") names.push_back(n);  // "shmray": the peer name, i.e. everything
    pos = comma + 1;
  }
  for (const std::string& n : names) {
    bool known = false;
    for (const Workload& w : registry()) known |= n == w.name;
    if (!known) {
      std::fprintf(stderr, "shmray_bench: unknown workload '%s'\n", n.c_str());
      usage(2);
    }
  }
  for (const Workload& w : registry())
    for (const std::string& n : names)
      if (n == w.name) {
        out.push_back(&w);
        break;
      }
  if (names.empty())
    for (const Workload& w : registry()) out.push_back(&w);
  return out;
}

// ---------------------------------------------------------------------------- meta, JSON

std::string now_text() {
  char buf[64];
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  ::localtime_r(&t, &tm);
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S %Z", &tm);
  return buf;
}

Json make_meta(const Params& p, const Args& a, int argc, char** argv) {
  Json m = Json::object();
  m.set("mode", p.mode);
  m.set("params", p.to_json());
  m.set("total_wall_s", 0.0);
  m.set("workers_per_peer", a.workers);
  m.set("threads_per_worker", 1);
  m.set("shmray_version", std::to_string(shmray::kVersionMajor) + "." + std::to_string(shmray::kVersionMinor) + "." +
                              std::to_string(shmray::kVersionPatch));
  m.set("object_store", "library default (1 GiB, capped at half of RAM)");
#ifdef NDEBUG
  m.set("build", "NDEBUG (release)");
#else
  m.set("build", "assertions on (not a release build)");
#endif
  m.set("compiler", "g++ " __VERSION__);
  utsname u{};
  if (::uname(&u) == 0) m.set("platform", std::string(u.sysname) + " " + u.release + " " + u.machine);
  m.set("cpus", static_cast<int>(::sysconf(_SC_NPROCESSORS_ONLN)));
  m.set("cpu_model", proc::cpu_model());
  m.set("date", now_text());
  Json args = Json::array();
  for (int i = 0; i < argc; ++i) args.push(argv[i]);
  m.set("argv", std::move(args));
  return m;
}

Json document(const Json& meta, const std::vector<const Workload*>& sel,
              const std::vector<std::unique_ptr<Result>>& res) {
  Json results = Json::object();
  for (std::size_t i = 0; i < sel.size(); ++i)
    if (res[i]) results.set(sel[i]->name, result_json(*res[i]));
  Json peers = Json::object();
  peers.set("shmray", std::move(results));
  Json doc = Json::object();
  doc.set("meta", meta);
  doc.set("results", std::move(peers));
  return doc;
}

bool write_file(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "w");
  if (!f) return false;
  const bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  if (std::fclose(f) != 0 || !ok) return false;
  return std::rename(tmp.c_str(), path.c_str()) == 0;
}

// ---------------------------------------------------------------------------- watchdog
// Armed around each workload. On expiry the handler writes the prepared document (results so
// far + this workload as an error) and ends the process; the fork server sees the driver die
// and takes the workers down. Everything the handler touches is prepared before alarm().

std::string g_watchdog_doc, g_watchdog_path, g_watchdog_tmp, g_watchdog_msg;

extern "C" void on_watchdog(int) {
  (void)!::write(STDERR_FILENO, g_watchdog_msg.data(), g_watchdog_msg.size());
  if (!g_watchdog_path.empty()) {
    const int fd = ::open(g_watchdog_tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      (void)!::write(fd, g_watchdog_doc.data(), g_watchdog_doc.size());
      ::close(fd);
      ::rename(g_watchdog_tmp.c_str(), g_watchdog_path.c_str());
    }
  }
  ::_exit(3);
}

std::string demangled_type(const std::exception& e) {
  int status = 0;
  char* name = abi::__cxa_demangle(typeid(e).name(), nullptr, nullptr, &status);
  std::string s = status == 0 && name ? name : typeid(e).name();
  std::free(name);
  return s;
}

Result run_guarded(const Workload& w, const Context& ctx) {
  Result r;
  try {
    r = w.run(ctx);
  } catch (const CheckFailed& e) {
    r = Result{};
    r.status = "failed";
    r.reason = e.what();
  } catch (const std::exception& e) {
    r = Result{};
    r.status = "error";
    r.reason = demangled_type(e) + ": " + e.what();
  }
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = parse_args(argc, argv);
  const Params P = args.quick ? Params::quick() : Params::full();
  const std::vector<const Workload*> sel = select(args.only);
  Json meta = make_meta(P, args, argc, argv);
  const Context ctx{P, args.workers, 0};

  struct sigaction sa {};
  sa.sa_handler = on_watchdog;
  ::sigaction(SIGALRM, &sa, nullptr);
  g_watchdog_path = args.json;
  g_watchdog_tmp = args.json + ".tmp";

  progress("shmray_bench: mode=%s workloads=%zu, %u workers%s", P.mode.c_str(), sel.size(), args.workers,
           args.json.empty() ? "" : (", json " + args.json).c_str());
  const Stopwatch all;
  std::vector<std::unique_ptr<Result>> results(sel.size());
  bool shared_up = false;
  for (std::size_t i = 0; i < sel.size(); ++i) {
    const Workload& w = *sel[i];
    // Prepare the watchdog's last words, then arm it.
    {
      Result stuck;
      stuck.status = "error";
      stuck.reason = "no result within " + std::to_string(int(P.workload_limit_s)) +
                     " s: the shmray_bench watchdog ended the program here";
      results[i] = std::make_unique<Result>(stuck);
      meta.set("total_wall_s", all.seconds());
      g_watchdog_doc = document(meta, sel, results).dump();
      g_watchdog_msg = "\nshmray_bench: " + std::string(w.name) + " did not finish within " +
                       std::to_string(int(P.workload_limit_s)) + " s; stopping (watchdog)\n";
      results[i].reset();
      ::alarm(static_cast<unsigned>(P.workload_limit_s));
    }
    progress("  [shmray] %s ...", w.name);
    const Stopwatch sw;
    Result r;
    if (w.pool == Pool::kOwn && shared_up) {
      shmray::shutdown();
      shared_up = false;
    }
    if (w.pool == Pool::kShared && !shared_up) {
      try {
        start_warm_pool(args.workers, ctx.store_bytes);
        shared_up = true;
      } catch (const std::exception& e) {
        r.status = "error";
        r.reason = "starting the shared pool: " + demangled_type(e) + ": " + e.what();
      }
    }
    if (r.status == "ok") r = run_guarded(w, ctx);
    if (r.status == "ok") r.unit = w.unit;
    if (r.status != "ok" && r.status != "unsupported" && shared_up) {
      shmray::shutdown();  // a failed workload may leave tasks behind: the next one gets a fresh pool
      shared_up = false;
    }
    r.wall_s = sw.seconds();
    ::alarm(0);
    progress("  [shmray] %s -> %s (%.1f s)", w.name, short_cell(r).c_str(), r.wall_s);
    if (r.status != "ok" && r.status != "unsupported") progress("    %s", r.reason.c_str());
    results[i] = std::make_unique<Result>(std::move(r));
    if (!args.json.empty()) {  // after every workload, as peers.py saves
      meta.set("total_wall_s", all.seconds());
      write_file(args.json, document(meta, sel, results).dump());
    }
  }
  if (shared_up) shmray::shutdown();

  meta.set("total_wall_s", all.seconds());
  std::vector<Row> rows;
  for (std::size_t i = 0; i < sel.size(); ++i) rows.push_back({sel[i]->name, results[i].get()});
  print_table(rows, meta);
  std::printf("\ntotal wall time: %.1f s\n", all.seconds());
  if (!args.json.empty()) {
    if (!write_file(args.json, document(meta, sel, results).dump())) {
      std::fprintf(stderr, "shmray_bench: could not write %s: %s\n", args.json.c_str(), std::strerror(errno));
      return 1;
    }
    std::printf("wrote %s\n", args.json.c_str());
  }
  bool all_ran = true;
  for (const auto& r : results) all_ran &= r->status == "ok" || r->status == "unsupported";
  return all_ran ? 0 : 1;
}
