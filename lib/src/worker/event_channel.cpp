// The worker's channel to the driver: messages on its event ring (split into pieces when
// larger than one record, waiting for room), releases (held back only while a result is
// published), the doorbell, and arena blocks (which wait for the driver to free room).
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "common/store_space.hpp"
#include "shm/futex.hpp"
#include "worker/runtime_internal.hpp"
#include "worker/worker_runtime.hpp"

namespace shmray::worker {

using internal::g_forked_child;
using internal::refuse_forked;

void WorkerRuntime::post(wire::MsgType type, std::span<const std::byte> a, std::span<const std::byte> b) {
  const std::span<const std::byte> parts[] = {a, b};
  post_parts(type, parts);
}

void WorkerRuntime::post_parts(wire::MsgType type, std::span<const std::span<const std::byte>> parts) {
  if (g_forked_child) refuse_forked();  // a second producer would corrupt the ring
  std::lock_guard lock(mu_);
  // A message larger than one record goes as consecutive pieces the driver joins (kMessageMore
  // on all but the last); holding mu_ throughout keeps other messages from coming between.
  std::size_t total = 0;
  for (const auto& p : parts) total += p.size();
  std::size_t part = 0, at = 0;  // the next byte to copy: parts[part][at]
  std::size_t done = 0;
  do {
    const std::size_t n = std::min<std::size_t>(total - done, events_.max_payload());
    const bool more = done + n < total;
    std::byte* into = reserve_waiting_locked(type, n, more ? shm::kMessageMore : 0);
    for (std::size_t i = 0; i < n;) {
      while (at == parts[part].size()) {  // bytes remain, so a later part holds them
        ++part;
        at = 0;
      }
      const std::size_t k = std::min(parts[part].size() - at, n - i);
      std::memcpy(into + i, parts[part].data() + at, k);
      i += k;
      at += k;
    }
    events_.commit();
    done += n;
  } while (done < total);
}

bool WorkerRuntime::try_post(wire::MsgType type) noexcept {
  if (g_forked_child) return false;  // post would refuse: a forked copy reports nothing
  try {
    post(type, {});
    return true;
  } catch (...) {  // std::system_error from a lock: nothing else in post throws
    return false;
  }
}

std::byte* WorkerRuntime::reserve_waiting_locked(wire::MsgType type, std::size_t size, std::uint16_t flags) {
  // No deadline, on purpose. The driver is the ring's only reader: it drains every ring (its
  // event thread at the latest every 200 ms, at once when rung), and a worker whose driver
  // is gone is killed by the fork server (pidfd). What is left is a driver that is alive but
  // stopped (SIGSTOP, a debugger): nothing the worker could do then would be seen, and giving
  // up is worse than waiting. Mid-message (kMessageMore) a throw would leave the driver a
  // half message, every way out of a task (TaskDone, an error) needs the ring too, and a
  // cancel or kill can only come from that same driver. So this waits until the driver runs
  // again, but sleeps longer the longer it waits: a stopped driver costs ~1000 wake-ups a
  // second per waiting thread, not a core.
  constexpr std::uint32_t kSpins = 1000;
  constexpr useconds_t kFirstSleepUs = 50, kMaxSleepUs = 1000;
  useconds_t sleep_us = kFirstSleepUs;
  for (std::uint32_t spins = 0;; ++spins) {
    std::span<std::byte> into =
        events_.reserve(static_cast<std::uint16_t>(type), static_cast<std::uint32_t>(size), flags);
    if (into.data()) return into.data();
    ring_doorbell();
    if (spins < kSpins) {
      shm::cpu_relax();
    } else {
      ::usleep(sleep_us);  // a long message or a slow driver: give the driver's CPU to the driver
      sleep_us = std::min(sleep_us * 2, kMaxSleepUs);
    }
  }
}

std::uint32_t WorkerRuntime::memory_refs(ObjectId id) const {
  // refs is the driver's count (ours included), read without its lock: a heuristic, where a
  // stale value costs one late or one spurious wake-up, never a wrong free.
  shm::ObjectSlot* s = v_.live(id);
  if (!s || shm::load_relaxed(s->data) == 0) return UINT32_MAX;
  return shm::load_relaxed(s->refs);
}

bool WorkerRuntime::flush_releases_locked() {
  // The driver frees an object when it takes the release of its last ref; memory that frees
  // should not wait for the driver's next look (200 ms when it sleeps): say so to the caller.
  bool wake = false;
  for (const std::uint64_t raw : releases_) {
    const std::uint32_t refs = memory_refs(ObjectId{raw});
    wake = wake || refs <= 1;
    done_may_free_ = done_may_free_ || refs == 2;
  }
  std::size_t done = 0;
  while (done < releases_.size()) {
    const std::size_t chunk = std::min<std::size_t>(releases_.size() - done, events_.max_payload() / 8);
    std::byte* into = reserve_waiting_locked(wire::MsgType::kRelease, chunk * 8, 0);
    std::memcpy(into, releases_.data() + done, chunk * 8);
    events_.commit();
    done += chunk;
  }
  releases_.clear();
  return wake;
}

void WorkerRuntime::ring_doorbell() noexcept {
  shm::full_fence();  // our ring writes before the "sleeping" check
  if (shm::load_relaxed(v_.hot->doorbell.aux) != 0) shm::futex_bump_and_wake_all(&v_.hot->doorbell.value);
}

std::uint64_t WorkerRuntime::allocate_block_waiting(std::size_t bytes) {
  return common::allocate_waiting(
      v_.geo, *v_.hot, bytes,
      [&] {
        drain_control();  // frees the driver sent us first
        std::lock_guard lock(mu_);
        return heap_.allocate(bytes);
      },
      [&] {
        {
          std::lock_guard lock(mu_);
          flush_releases_locked();
        }
        ring_doorbell();  // the driver may be holding frees it has not processed
      });
}

}  // namespace shmray::worker
