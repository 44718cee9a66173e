#include "ref_pool.hpp"

#include <pthread.h>

#include <cstddef>
#include <memory>
#include <mutex>
#include <new>
#include <vector>

namespace shmray::ref_pool {

#if defined(__SANITIZE_ADDRESS__)
#define SHMRAY_REF_POOL_MALLOC 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SHMRAY_REF_POOL_MALLOC 1
#endif
#endif

#ifdef SHMRAY_REF_POOL_MALLOC
// Under AddressSanitizer every handle is its own allocation, so that a use of a dropped
// handle is still reported.
detail::RefHandle* make(detail::ObjectId id, std::uint64_t generation) {
  return new detail::RefHandle{{1}, id, generation};
}
void give_back(detail::RefHandle* h) noexcept { delete h; }
#else

namespace {

// A free handle's storage holds the link to the next free one.
union Cell {
  Cell* next;
  alignas(detail::RefHandle) unsigned char bytes[sizeof(detail::RefHandle)];
};

constexpr std::size_t kChunkCells = 4096;  // 96 KiB a chunk
constexpr std::size_t kBatch = 256;        // cells a thread takes from or gives to the shared list at once

// The shared free list and the chunks (never returned: the pool is as large as the most
// refs this process held at once). A thread keeps up to 2 * kBatch cells of its own, so
// the mutex is taken once per kBatch handles made or dropped, not per handle.
struct Shared {
  std::mutex mu;
  Cell* free = nullptr;
  std::size_t free_count = 0;
  std::vector<std::unique_ptr<Cell[]> > chunks;
};

Shared& shared() {
  static Shared* s = [] {
    auto* p = new Shared;  // never destroyed: threads may drop refs during static destruction
    // A child forked while another thread held the mutex would block on its first ref: the
    // fork waits for the mutex, and both sides go on with it released.
    pthread_atfork([] { shared().mu.lock(); }, [] { shared().mu.unlock(); }, [] { shared().mu.unlock(); });
    return p;
  }();
  return *s;
}

// Moves up to `n` cells from the shared list to `head` (carving a new chunk if it is empty).
void refill(Cell*& head, std::size_t& count, std::size_t n) {
  Shared& s = shared();
  std::lock_guard<std::mutex> lock(s.mu);
  if (!s.free) {
    s.chunks.push_back(std::make_unique<Cell[]>(kChunkCells));
    Cell* cells = s.chunks.back().get();
    for (std::size_t i = 0; i + 1 < kChunkCells; ++i) cells[i].next = &cells[i + 1];
    cells[kChunkCells - 1].next = s.free;
    s.free = cells;
    s.free_count += kChunkCells;
  }
  for (; n > 0 && s.free; --n, --s.free_count, ++count) {
    Cell* c = s.free;
    s.free = c->next;
    c->next = head;
    head = c;
  }
}

// Moves `n` cells from `head` to the shared list.
void spill(Cell*& head, std::size_t& count, std::size_t n) noexcept {
  Shared& s = shared();
  std::lock_guard<std::mutex> lock(s.mu);
  for (; n > 0 && head; --n, --count, ++s.free_count) {
    Cell* c = head;
    head = c->next;
    c->next = s.free;
    s.free = c;
  }
}

struct Local {
  Cell* head = nullptr;
  std::size_t count = 0;
  bool gone = false;  // past this thread's destructors: a ref dropped by a later one goes straight back
  ~Local() {
    spill(head, count, count);  // a thread's cells go back when it ends
    gone = true;
  }
};
thread_local Local t_local;

}  // namespace

detail::RefHandle* make(detail::ObjectId id, std::uint64_t generation) {
  Local& l = t_local;
  if (l.gone) [[unlikely]] {
    Cell* one = nullptr;
    std::size_t n = 0;
    refill(one, n, 1);
    return new (one->bytes) detail::RefHandle{{1}, id, generation};
  }
  if (!l.head) refill(l.head, l.count, kBatch);
  Cell* c = l.head;
  l.head = c->next;
  --l.count;
  return new (c->bytes) detail::RefHandle{{1}, id, generation};
}

void give_back(detail::RefHandle* h) noexcept {
  h->~RefHandle();
  Cell* c = reinterpret_cast<Cell*>(h);
  Local& l = t_local;
  c->next = nullptr;
  if (l.gone) [[unlikely]] {
    std::size_t n = 1;
    spill(c, n, 1);
    return;
  }
  c->next = l.head;
  l.head = c;
  if (++l.count > 2 * kBatch) spill(l.head, l.count, kBatch);
}

#endif

}  // namespace shmray::ref_pool
