// The ready queue over plain arrays: claims go through the task word, so entries of tasks
// that are gone, claimed or stale are skipped, never run twice.
#include <doctest/doctest.h>

#include <cstdint>

#include "shm/dispatch.hpp"
#include "shm/layout.hpp"
#include "shm/words.hpp"

using namespace shmray::shm;

namespace {
constexpr std::uint32_t kEntries = 4, kTasks = 8;

struct Queue {
  RingIndex index{};
  std::uint64_t entries[kEntries] = {};
  TaskSlot tasks[kTasks] = {};
  DispatchQueue q{&index, entries, kEntries, tasks, kTasks};

  std::uint64_t queue(std::uint32_t slot, std::uint32_t gen) {
    tasks[slot].state = TaskWord{gen, TaskState::kQueued, 0, 0}.pack();
    return task_ref(slot, gen);
  }
  TaskWord word(std::uint32_t slot) const { return TaskWord::unpack(tasks[slot].state); }
};
}  // namespace

TEST_CASE("Dispatch.ClaimInOrder" * doctest::timeout(10)) {
  Queue d;
  CHECK(d.q.empty());
  CHECK(d.q.claim(2) == std::nullopt);
  REQUIRE(d.q.try_push(d.queue(0, 5)));
  REQUIRE(d.q.try_push(d.queue(1, 6)));
  CHECK(d.q.size() == 2);
  CHECK(d.q.claim(2) == task_ref(0, 5));
  CHECK(d.word(0).state == TaskState::kClaimed);
  CHECK(d.word(0).owner == 2);
  CHECK(d.word(0).gen == 5);
  CHECK(d.q.claim(3) == task_ref(1, 6));
  CHECK(d.word(1).owner == 3);
  CHECK(d.q.claim(2) == std::nullopt);
  CHECK(d.q.empty());
}

TEST_CASE("Dispatch.ClaimSkipsDeadAndClaimedEntries" * doctest::timeout(10)) {
  Queue d;
  const std::uint64_t cancelled = d.queue(0, 1), taken = d.queue(1, 1), stale = d.queue(2, 1), live = d.queue(3, 1);
  REQUIRE(d.q.try_push(cancelled));
  REQUIRE(d.q.try_push(taken));
  REQUIRE(d.q.try_push(stale));
  REQUIRE(d.q.try_push(live));
  d.tasks[0].state = TaskWord{1, TaskState::kCancelled, 0, 0}.pack();
  REQUIRE(try_claim_task(d.tasks[1], 1, 9));                        // another worker got there first
  d.tasks[2].state = TaskWord{2, TaskState::kQueued, 0, 0}.pack();  // slot reused: the entry is for gen 1
  CHECK(d.q.claim(4) == live);
  CHECK(d.word(1).owner == 9);  // untouched
  CHECK(d.word(2).state == TaskState::kQueued);
  CHECK(d.word(0).state == TaskState::kCancelled);
  CHECK(d.q.empty());
}

TEST_CASE("Dispatch.ForgedEntriesAreSkipped" * doctest::timeout(10)) {
  Queue d;
  // Entries a stray write could leave: ref 0 (index -1) and an index past the table.
  d.entries[0] = 0;
  d.entries[1] = task_ref(kTasks + 3, 1);
  d.entries[2] = d.queue(4, 7);
  d.index.tail = 3;
  CHECK(d.q.claim(2) == task_ref(4, 7));
  CHECK(d.q.claim(2) == std::nullopt);
}

TEST_CASE("Dispatch.FullUnlessHeadEntriesAreDead" * doctest::timeout(10)) {
  Queue d;
  for (std::uint32_t i = 0; i < kEntries; ++i) REQUIRE(d.q.try_push(d.queue(i, 1)));
  CHECK_FALSE(d.q.try_push(d.queue(4, 1)));  // every entry is still queued
  d.tasks[0].state = TaskWord{1, TaskState::kCancelled, 0, 0}.pack();
  d.tasks[1].state = TaskWord{1, TaskState::kDone, 0, 0}.pack();
  CHECK(d.q.try_push(d.queue(4, 1)));  // skip_dead moved head past the two dead ones
  CHECK(d.q.try_push(d.queue(5, 1)));
  CHECK_FALSE(d.q.try_push(d.queue(6, 1)));
  for (std::uint32_t i : {2u, 3u, 4u, 5u}) CHECK(d.q.claim(1) == task_ref(i, 1));
  CHECK(d.q.claim(1) == std::nullopt);
}

TEST_CASE("Dispatch.SkipDeadStopsAtQueued" * doctest::timeout(10)) {
  Queue d;
  REQUIRE(d.q.try_push(d.queue(0, 1)));
  REQUIRE(d.q.try_push(d.queue(1, 1)));
  d.tasks[0].state = TaskWord{1, TaskState::kCancelled, 0, 0}.pack();
  d.q.skip_dead();
  CHECK(d.q.head() == 1);
  d.q.skip_dead();
  CHECK(d.q.head() == 1);  // the queued one stays
}

TEST_CASE("Dispatch.ScribbledHeadIsRepaired" * doctest::timeout(10)) {
  Queue d;
  REQUIRE(d.q.try_push(d.queue(0, 1)));
  SUBCASE("head past tail") {
    d.index.head = 1000;
    CHECK(d.q.size() == 0);                // never a huge unsigned count
    REQUIRE(d.q.try_push(d.queue(1, 1)));  // the driver puts head back before pushing
    CHECK(d.q.head() == 0);
  }
  SUBCASE("head more than a ring behind tail") {
    d.index.tail = 10;  // entries 1..9 left behind; slots hold task 0's ref at 0 only
    d.index.head = 0;
    REQUIRE(d.q.try_push(d.queue(1, 1)));
    // Set back to the oldest entry the ring holds (6), then past the two empty ones.
    CHECK(d.q.head() == 8);
  }
  // Whatever the entries were, a task is claimed at most once.
  int claimed = 0;
  while (d.q.claim(3)) ++claimed;
  CHECK(claimed == 2);
  CHECK(d.word(0).state == TaskState::kClaimed);
  CHECK(d.word(1).state == TaskState::kClaimed);
}
