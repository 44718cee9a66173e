// The task name in worker log lines (shm/task_label.hpp, worker/output_relay.hpp): the
// seqlock between a worker and the fork server, and which prefix a read's lines get.
#include <doctest/doctest.h>

#include <string>

#include "shm/layout.hpp"
#include "shm/task_label.hpp"
#include "worker/output_relay.hpp"

using shmray::shm::read_label;
using shmray::shm::TaskLabel;
using shmray::shm::WorkerControl;
using shmray::worker::line_prefix;
using shmray::worker::Stream;

TEST_CASE("TaskLabel.NoTaskYetGivesThePlainPrefix") {
  WorkerControl c{};
  Stream s;
  const TaskLabel l = read_label(c);
  CHECK(l.valid);
  CHECK_FALSE(l.running);
  CHECK(l.name.empty());
  CHECK(line_prefix(42, l, l, true, s) == "(pid=42) ");
}

TEST_CASE("TaskLabel.RunningTaskNamesItsLines") {
  WorkerControl c{};
  Stream s;
  shmray::shm::write_running_label(c, "slow_square");
  const TaskLabel l = read_label(c);
  CHECK(l.running);
  CHECK(l.name == "slow_square");
  CHECK(line_prefix(7, l, l, true, s) == "(pid=7, task=slow_square) ");
  CHECK(line_prefix(7, l, l, true, s) == "(pid=7, task=slow_square) ");  // a drained read while it runs changes nothing
}

TEST_CASE("TaskLabel.OutputReadAfterTheTaskEndedKeepsItsName") {
  WorkerControl c{};
  Stream s;
  shmray::shm::write_running_label(c, "sq");
  const TaskLabel running = read_label(c);
  shmray::shm::write_idle_label(c);
  const TaskLabel idle = read_label(c);
  CHECK_FALSE(idle.running);
  CHECK(idle.seq != running.seq);
  // The task's last line, read only now: still its name. Not drained: nothing learnt.
  CHECK(line_prefix(7, running, idle, false, s) == "(pid=7, task=sq) ");
  // Idle all through a read that emptied the pipe: this read may still be the task's...
  CHECK(line_prefix(7, idle, idle, true, s) == "(pid=7, task=sq) ");
  // ...but what comes after, with nothing run since, was written outside any task.
  CHECK(line_prefix(7, idle, idle, true, s) == "(pid=7) ");
  // The next task names its lines again.
  shmray::shm::write_running_label(c, "next");
  const TaskLabel next = read_label(c);
  CHECK(line_prefix(7, idle, next, true, s) == "(pid=7, task=next) ");
  shmray::shm::write_idle_label(c);
  CHECK(line_prefix(7, next, read_label(c), true, s) == "(pid=7, task=next) ");
}

TEST_CASE("TaskLabel.NestedTasksRestoreTheOuterName") {
  WorkerControl c{};
  shmray::shm::write_running_label(c, "outer");
  shmray::shm::write_running_label(c, "inner");  // run inline inside outer
  CHECK(read_label(c).name == "inner");
  shmray::shm::write_running_label(c, "outer");  // inner returned (LabelScope, task_call.cpp)
  const TaskLabel l = read_label(c);
  CHECK(l.running);
  CHECK(l.name == "outer");
}

TEST_CASE("TaskLabel.LongOrHostileNamesStayOneLine") {
  WorkerControl c{};
  Stream s;
  shmray::shm::write_running_label(c, std::string(200, 'x'));
  TaskLabel l = read_label(c);
  CHECK(l.name == std::string(shmray::shm::kLabelMax, 'x'));  // cut, never past the field
  shmray::shm::write_running_label(c, "a\nb\rc\x1b[2Jd");
  l = read_label(c);
  CHECK(line_prefix(1, l, l, false, s) == "(pid=1, task=a?b?c?[2Jd) ");
  // Garbage in the field (a task can write the segment): no terminator is needed.
  for (auto& w : c.log_label) w = ~0ull;
  l = read_label(c);
  CHECK(l.name.size() == shmray::shm::kLabelMax);
}

TEST_CASE("TaskLabel.AWriterKilledMidWriteLeavesNoName") {
  WorkerControl c{};
  Stream s;
  shmray::shm::write_running_label(c, "sq");
  c.log_seq |= shmray::shm::kLabelWriting;  // as a worker SIGKILLed inside write_running_label leaves it
  const TaskLabel l = read_label(c);
  CHECK_FALSE(l.valid);
  CHECK(line_prefix(9, l, l, true, s) == "(pid=9) ");
}
