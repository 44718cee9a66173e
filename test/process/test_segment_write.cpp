// A task can write anywhere in the shared segment. What the driver relies on must survive
// that: the driver uses only its private copy of the geometry, the header (and the exit
// ring) are read-only in workers, so a stray write there kills only the task's own worker,
// and garbage in the words workers may write (futex words, idle sets, the dispatch head)
// never crashes the driver. The segment is also kept out of core dumps (MADV_DONTDUMP).
#include <doctest/doctest.h>
#include <unistd.h>

#include <shmray/shmray.hpp>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "shm/layout.hpp"
#include "support/leak_check.hpp"
#include "support/procs.hpp"

namespace {

using namespace std::chrono_literals;
namespace shm = shmray::shm;

/// One line of /proc/<pid>/maps (or an smaps header line).
struct Vma {
  std::uintptr_t start = 0, end = 0;
  std::uint64_t offset = 0;
  std::string perms, inode;
};

bool parse_vma(const std::string& line, Vma& v) {
  std::istringstream in(line);
  std::string range, dev;
  if (!(in >> range >> v.perms >> std::hex >> v.offset >> dev >> v.inode)) return false;
  const auto dash = range.find('-');
  if (dash == std::string::npos || v.perms.size() != 4) return false;
  v.start = std::stoull(range.substr(0, dash), nullptr, 16);
  v.end = std::stoull(range.substr(dash + 1), nullptr, 16);
  return true;
}

/// The segment's base in this process: the mapping holding `inside`, less its file offset
/// (the segment is one shared anonymous object; mprotect may have split it in pieces).
std::byte* segment_base(const void* inside) {
  std::ifstream maps("/proc/self/maps");
  const auto p = reinterpret_cast<std::uintptr_t>(inside);
  for (std::string line; std::getline(maps, line);) {
    Vma v;
    if (parse_vma(line, v) && v.start <= p && p < v.end) return reinterpret_cast<std::byte*>(v.start - v.offset);
  }
  return nullptr;
}

void poke(std::byte* at, std::uint64_t value) {
  std::memcpy(at, &value, sizeof value);  // a plain store, as a buggy task would do
  asm volatile("" ::: "memory");
}

// Writes 8 bytes at `offset` from the segment base (found through the argument's bytes).
int scribble(shmray::View<std::vector<char>> anchor, std::uint64_t offset, std::uint64_t value) {
  std::byte* base = segment_base(anchor.data());
  if (!base) return -1;
  poke(base + offset, value);
  return 1;
}
SHMRAY_REMOTE(scribble);

// Writes garbage over every word a worker may legitimately write that the driver reads
// for wake-ups: the hot futex words, both idle sets (all `idle_fill`), the dispatch head.
int scribble_hot_words(shmray::View<std::vector<char>> anchor, std::uint64_t idle_fill) {
  std::byte* base = segment_base(anchor.data());
  if (!base) return -1;
  shm::SegmentHeader h;
  std::memcpy(&h, base, sizeof h);  // readable: only writes fault
  for (std::uint64_t off = 0; off < sizeof(shm::HotWords); off += 4) {
    std::uint32_t junk = 0xdeadbeefu;
    std::memcpy(base + h.hot_off + off, &junk, sizeof junk);
  }
  for (std::uint64_t w = 0; w < 2 * ((8ull * h.idle_words + 63) / 64 * 8); ++w)
    poke(base + h.idle_off + 8 * w, idle_fill);
  poke(base + h.dispatch_off + offsetof(shm::RingIndex, head), 0xfffffffffffff000ull);
  return 1;
}
SHMRAY_REMOTE(scribble_hot_words);

// Puts the driver's pid where its worker's own pid belongs, then runs until cancelled.
int forge_worker_pid(shmray::View<std::vector<char>> anchor) {
  std::byte* base = segment_base(anchor.data());
  if (!base) return -1;
  shm::SegmentHeader h;
  std::memcpy(&h, base, sizeof h);
  for (std::uint32_t slot = 0; slot < h.max_workers; ++slot) {
    auto* c = reinterpret_cast<shm::WorkerControl*>(base + h.workers_off + std::uint64_t(slot) * h.worker_block_bytes);
    if (c->pid == ::getpid()) c->pid = h.driver_pid;
  }
  const auto until = std::chrono::steady_clock::now() + 20s;
  while (!shmray::cancelled() && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(1ms);
  return 1;
}
SHMRAY_REMOTE(forge_worker_pid);

int plus_one(int x) { return x + 1; }
SHMRAY_REMOTE(plus_one);

void check_pool_serves() {
  std::vector<shmray::ObjectRef<int>> refs;
  for (int i = 0; i < 20; ++i) refs.push_back(shmray::task(plus_one).remote(i));
  const auto values = shmray::get(refs, 10s);
  for (int i = 0; i < 20; ++i) CHECK(values[std::size_t(i)] == i + 1);
}

}  // namespace

TEST_CASE("Segment.AStrayWriteIntoTheHeaderKillsOnlyTheWorker" * doctest::timeout(180)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 2, .object_store_bytes = 16 << 20, .quiet = true});
  auto anchor = shmray::put(std::vector<char>(4096, 'a'));
  // Magic, the sizes, every region offset, the idle and hot offsets, the driver's flags.
  for (std::uint64_t off : {0ull, 16ull, 36ull, 56ull, 64ull, 72ull, 80ull, 88ull, 96ull, 104ull, 112ull, 120ull,
                            144ull, 152ull, 160ull, 168ull, 320ull, 4088ull}) {
    CAPTURE(off);
    auto ref = shmray::task(scribble).remote(anchor, off, 0x4141414141414141ull);
    CHECK_THROWS_AS(shmray::get(ref, 60s), shmray::WorkerCrashedError);  // SIGSEGV, 4 times
    CHECK(shmray::get(shmray::task(plus_one).remote(41), 30s) == 42);
  }
  check_pool_serves();
  CHECK(shmray::get_view(anchor).size() == 4096u);
}

TEST_CASE("Segment.GarbageInTheHotWordsDoesNotCrashTheDriver" * doctest::timeout(120)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 2, .object_store_bytes = 16 << 20, .quiet = true});
  auto anchor = shmray::put(std::vector<char>(4096, 'a'));
  check_pool_serves();
  for (int round = 0; round < 4; ++round) {
    CAPTURE(round);
    // Every idle bit set (phantom spinners and sleepers), or none (sleepers nobody sees).
    const std::uint64_t fill = round % 2 ? 0 : ~0ull;
    // At worst its own tasks misbehave; here nothing is lost at all.
    CHECK(shmray::get(shmray::task(scribble_hot_words).remote(anchor, fill), 30s) == 1);
    std::this_thread::sleep_for(50ms);  // the other worker goes to sleep, unseen when the bits are clear
    check_pool_serves();
    auto big = shmray::put(std::vector<double>(100000, 2.0));  // the store still frees and allocates
    CHECK(shmray::get_view(big).size() == 100000u);
  }
}

TEST_CASE("Segment.AForgedWorkerPidIsNeverSignalled" * doctest::timeout(120)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 2, .object_store_bytes = 16 << 20, .quiet = true});
  auto anchor = shmray::put(std::vector<char>(4096, 'a'));
  auto ref = shmray::task(forge_worker_pid).remote(anchor);
  std::this_thread::sleep_for(200ms);    // it has forged the pid by now
  shmray::cancel(ref, {.force = true});  // must not SIGKILL the pid the worker wrote: ours
  CHECK_THROWS_AS(shmray::get(ref, 30s), shmray::TaskCancelledError);
  check_pool_serves();
}

TEST_CASE("Segment.TheStoreIsKeptOutOfCoreDumps" * doctest::timeout(60)) {
  shmray::test::NoLeaks guard;
  shmray::init({.num_workers = 2, .object_store_bytes = 16 << 20, .quiet = true});
  auto obj = shmray::put(std::vector<char>(1 << 20, 'x'));
  const auto p = reinterpret_cast<std::uintptr_t>(shmray::get_view(obj).data());
  std::vector<int> pids = shmray::test::workers_of();
  REQUIRE(pids.size() == 2);
  pids.push_back(shmray::test::fork_server_of());
  pids.push_back(static_cast<int>(::getpid()));
  for (int pid : pids) {
    CAPTURE(pid);
    // The segment's mappings in that process: those of the same shared object as the one
    // holding our object (forks map it at the same address), each must be "dd".
    std::ifstream smaps("/proc/" + std::to_string(pid) + "/smaps");
    std::string inode;
    std::vector<std::pair<Vma, std::string>> vmas;  // with their VmFlags
    for (std::string line; std::getline(smaps, line);) {
      Vma v;
      if (parse_vma(line, v))
        vmas.push_back({v, ""});
      else if (line.rfind("VmFlags:", 0) == 0 && !vmas.empty())
        vmas.back().second = line;
    }
    for (const auto& [v, flags] : vmas)
      if (v.start <= p && p < v.end) inode = v.inode;
    REQUIRE(!inode.empty());
    int segment_vmas = 0;
    for (const auto& vma : vmas) {
      // Named copies, not structured bindings: CAPTURE's lambda cannot capture a binding before clang 16.
      const auto& v = vma.first;
      const auto& flags = vma.second;
      if (v.inode != inode || v.perms[3] != 's') continue;
      ++segment_vmas;
      CAPTURE(flags);
      CHECK(flags.find(" dd") != std::string::npos);
    }
    CHECK(segment_vmas >= 1);
  }
}
