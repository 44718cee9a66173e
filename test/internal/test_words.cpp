// Packing of the task, object and span state words and the CAS helpers over them: every
// field round-trips at its limits and no field bleeds into another.
#include <doctest/doctest.h>

#include <cstdint>

#include "shm/layout.hpp"
#include "shm/words.hpp"

using namespace shmray::shm;

TEST_CASE("Words.TaskWordRoundTrip" * doctest::timeout(10)) {
  const TaskWord max{0xffffffffu, TaskState::kCancelled, 0xffff, 0xff};
  const TaskWord u = TaskWord::unpack(max.pack());
  CHECK(u.gen == 0xffffffffu);
  CHECK(u.state == TaskState::kCancelled);
  CHECK(u.owner == 0xffff);
  CHECK(u.flags == 0xff);
  CHECK(TaskWord{}.pack() == 0);
  // Each field has its own bits, as layout.md says: [63:32] gen, [31:24] state, [23:8] owner, [7:0] flags.
  CHECK(TaskWord{0xffffffffu, TaskState::kFree, 0, 0}.pack() == 0xffffffff00000000ull);
  CHECK(TaskWord{0, TaskState(0xff), 0, 0}.pack() == 0xff000000ull);
  CHECK(TaskWord{0, TaskState::kFree, 0xffff, 0}.pack() == 0x00ffff00ull);
  CHECK(TaskWord{0, TaskState::kFree, 0, 0xff}.pack() == 0xffull);
  for (auto s : {TaskState::kFree, TaskState::kWaiting, TaskState::kQueued, TaskState::kClaimed, TaskState::kDone,
                 TaskState::kCancelled})
    CHECK(TaskWord::unpack(TaskWord{123, s, 45, kTaskCancelRequested}.pack()).state == s);
}

TEST_CASE("Words.ObjectWordRoundTripAndLimits" * doctest::timeout(10)) {
  const ObjectWord max{0xffffff, std::uint8_t(ObjectState::kFailed), kObjFlagMask};
  const ObjectWord u = ObjectWord::unpack(max.pack());
  CHECK(u.gen == 0xffffff);
  CHECK(u.is(ObjectState::kFailed));
  CHECK(u.flags == kObjFlagMask);
  CHECK(ObjectWord{}.pack() == 0);
  // The generation has 24 bits, state and flags 4 each: wider values are cut, never spill over.
  CHECK(ObjectWord::unpack(ObjectWord{0x1234567, 0, 0}.pack()).gen == 0x234567);
  CHECK(ObjectWord{0, 0xff, 0}.pack() == 0xf0);
  CHECK(ObjectWord{0, 0, 0xff}.pack() == 0x0f);
  CHECK(ObjectWord::unpack(ObjectWord{5, kObjWriting, kObjWaiters | kObjDriverWatch}.pack()).state == kObjWriting);
}

TEST_CASE("Words.ObjectWordPredicates" * doctest::timeout(10)) {
  CHECK(ObjectWord{1, std::uint8_t(ObjectState::kReady), 0}.final());
  CHECK(ObjectWord{1, std::uint8_t(ObjectState::kFailed), 0}.final());
  CHECK_FALSE(ObjectWord{1, std::uint8_t(ObjectState::kPending), 0}.final());
  CHECK(ObjectWord{1, std::uint8_t(ObjectState::kPending), 0}.open());
  CHECK(ObjectWord{1, kObjWriting, 0}.open());
  CHECK_FALSE(ObjectWord{1, kObjWriting, 0}.final());
  CHECK_FALSE(ObjectWord{1, std::uint8_t(ObjectState::kFree), 0}.open());
}

TEST_CASE("Words.TaskRefRoundTrip" * doctest::timeout(10)) {
  for (std::uint32_t index : {0u, 1u, 0xfffffffeu})
    for (std::uint32_t gen : {0u, 1u, 0xffffffffu}) {
      const std::uint64_t r = task_ref(index, gen);
      CHECK(r != 0);  // 0 is "no task"
      CHECK(task_ref_index(r) == index);
      CHECK(task_ref_gen(r) == gen);
    }
  CHECK(holds_word(7, -2) == ((7ull << 32) | 0xfffffffeull));
  CHECK(owner_of_worker(0) == 2);
}

TEST_CASE("Words.TryClaimTask" * doctest::timeout(10)) {
  TaskSlot t{};
  t.state = TaskWord{3, TaskState::kWaiting, 0, 0}.pack();
  CHECK_FALSE(try_claim_task(t, 3, 2));  // not queued
  t.state = TaskWord{3, TaskState::kQueued, 0, kTaskCancelRequested}.pack();
  CHECK_FALSE(try_claim_task(t, 4, 2));  // other generation
  REQUIRE(try_claim_task(t, 3, 2));
  const TaskWord w = TaskWord::unpack(t.state);
  CHECK(w.state == TaskState::kClaimed);
  CHECK(w.owner == 2);
  CHECK(w.gen == 3);
  CHECK(w.flags == kTaskCancelRequested);  // kept
  CHECK_FALSE(try_claim_task(t, 3, 5));    // once only
  CHECK(TaskWord::unpack(t.state).owner == 2);
}

TEST_CASE("Words.ObjectWriteProtocol" * doctest::timeout(10)) {
  ObjectSlot o{};
  const std::uint32_t gen = 0x1000005;  // wider than 24 bits: the helpers compare the low 24
  o.state = ObjectWord{gen & 0xffffff, std::uint8_t(ObjectState::kPending), 0}.pack();
  CHECK(set_object_flag(o, gen, kObjWaiters));
  CHECK(set_object_flag(o, gen, kObjWaiters));  // already set: still true, no change
  CHECK_FALSE(set_object_flag(o, gen + 1, kObjDriverWatch));
  CHECK_FALSE(begin_object_write(o, gen + 1));
  REQUIRE(begin_object_write(o, gen));
  CHECK(ObjectWord::unpack(o.state).state == kObjWriting);
  CHECK_FALSE(begin_object_write(o, gen));          // one writer
  CHECK(set_object_flag(o, gen, kObjDriverWatch));  // still open while being written
  CHECK(finish_object_write(o, ObjectState::kReady).flags == (kObjWaiters | kObjDriverWatch));
  const ObjectWord done = ObjectWord::unpack(o.state);
  CHECK(done.is(ObjectState::kReady));
  CHECK(done.flags == 0);
  CHECK(done.gen == (gen & 0xffffff));
  CHECK_FALSE(set_object_flag(o, gen, kObjWaiters));  // final: nothing to wait for
  CHECK_FALSE(begin_object_write(o, gen));
}
