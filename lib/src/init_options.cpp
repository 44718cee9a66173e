// init()'s options (init_options.hpp): defaults, ranges, and the threads warning.
#include "init_options.hpp"

#include <sys/sysinfo.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <system_error>
#include <thread>

#include "driver/warn.hpp"
#include "shm/layout.hpp"

namespace shmray::setup {

namespace {
std::uint64_t physical_memory() {
  struct sysinfo si {};
  if (::sysinfo(&si) != 0) return 0;
  return std::uint64_t(si.totalram) * si.mem_unit;
}

}  // namespace

std::string gib(std::uint64_t bytes) {
  char buf[32];
  if (bytes < (1ull << 30))
    std::snprintf(buf, sizeof buf, "%.0f MiB", double(bytes) / double(1ull << 20));
  else
    std::snprintf(buf, sizeof buf, "%.1f GiB", double(bytes) / double(1ull << 30));
  return buf;
}

// Fills the 0 defaults and rejects what is out of range, saying what to pass instead.
Options resolve(Options o) {
  if (o.num_workers == 0) o.num_workers = std::max(1u, std::thread::hardware_concurrency());
  if (o.num_workers > shm::kMaxWorkerSlots)
    throw std::invalid_argument("shmray::init: num_workers=" + std::to_string(o.num_workers) + " is out of range (1.." +
                                std::to_string(shm::kMaxWorkerSlots) + "; 0 means one per core)");
  if (o.max_workers == 0)
    o.max_workers = std::min(shm::kMaxWorkerSlots, std::max(4 * o.num_workers, o.num_workers + 4));
  if (o.max_workers < o.num_workers || o.max_workers > shm::kMaxWorkerSlots)
    throw std::invalid_argument("shmray::init: max_workers=" + std::to_string(o.max_workers) +
                                " must lie in num_workers.." + std::to_string(shm::kMaxWorkerSlots) +
                                " (0: a default)");
  if (o.max_actors == 0) o.max_actors = std::min(64u, shm::kMaxWorkerSlots - o.max_workers);
  if (o.max_actors > shm::kMaxWorkerSlots - o.max_workers)
    throw std::invalid_argument("shmray::init: max_actors=" + std::to_string(o.max_actors) +
                                " and max_workers=" + std::to_string(o.max_workers) + " take more than " +
                                std::to_string(shm::kMaxWorkerSlots) + " process slots; lower one of them");
  const std::uint64_t ram = physical_memory();
  if (o.object_store_bytes == 0) {
    o.object_store_bytes = std::size_t{1} << 30;
    if (ram && o.object_store_bytes > ram / 2) o.object_store_bytes = static_cast<std::size_t>(ram / 2);
  }
  if (o.object_store_bytes < (std::size_t{1} << 20))
    throw std::invalid_argument("shmray::init: object_store_bytes=" + std::to_string(o.object_store_bytes) +
                                " is too small; give at least 1 MiB (0: 1 GiB)");
  if (ram && o.object_store_bytes > ram)
    throw std::invalid_argument("shmray::init: object_store_bytes=" + std::to_string(o.object_store_bytes) +
                                " is larger than this machine's memory (" + gib(ram) + ")");
  if (o.dashboard.empty())
    if (const char* env = std::getenv("SHMRAY_DASHBOARD")) o.dashboard = env;
  if (o.store_full_timeout.count() < 0)
    throw std::invalid_argument("shmray::init: store_full_timeout must not be negative");
  if (o.timeline.empty())
    if (const char* path = std::getenv("SHMRAY_TIMELINE"); path && *path) o.timeline = path;
  return o;
}

// Workers are forks of this process: a lock another thread holds at that moment (malloc's,
// a logger's, iostream's) stays held in every worker for good. Said once per process.
void warn_if_threads(const Options& o) {
  static bool warned = false;
  if (warned || o.quiet) return;
  std::size_t threads = 0;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/proc/self/task", ec); !ec && it != std::filesystem::end(it);
       it.increment(ec))
    ++threads;
  if (threads <= 1) return;
  warned = true;
  driver::warn("shmray::init: this process runs " + std::to_string(threads) +
               " threads already; the workers are forked from it, and a lock another thread holds at that moment "
               "(malloc's, a logger's) stays held in them: call init() before starting threads");
}

}  // namespace shmray::setup
