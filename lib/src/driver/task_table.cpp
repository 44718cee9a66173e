// TaskTable: the driver's per-slot task facts, free slots, dependents, backlog.
#include "driver/task_table.hpp"

#include <algorithm>
#include <iterator>

namespace shmray::driver {

TaskTable::TaskTable(const common::Views& v) : v_(v) {
  tasks_.resize(v_.task_capacity);
  free_tasks_.reserve(v_.task_capacity);
  for (std::uint32_t i = v_.task_capacity; i-- > 0;) free_tasks_.push_back(i);
}

bool TaskTable::current(wire::TaskRef ref) const {
  if (!v_.valid_task_ref(ref.value)) return false;
  const TaskInfo& info = tasks_[ref.index()];
  return info.live && info.gen == ref.gen();
}

std::vector<ObjectId> TaskTable::children_of(wire::TaskRef parent) const {
  std::vector<ObjectId> children;
  for (std::uint32_t t = 0; t < v_.task_capacity; ++t)
    if (tasks_[t].live && tasks_[t].parent == parent && !tasks_[t].hold) children.push_back(tasks_[t].result);
  return children;
}

std::uint32_t TaskTable::take_free_slot() {
  const std::uint32_t idx = free_tasks_.back();
  free_tasks_.pop_back();
  return idx;
}

std::vector<std::uint32_t> TaskTable::take_dependents(std::uint32_t object_index) {
  auto it = dependents_.find(object_index);
  if (it == dependents_.end()) return {};
  std::vector<std::uint32_t> waiting = std::move(it->second);
  dependents_.erase(it);
  return waiting;
}

std::optional<BacklogTask> TaskTable::pop_backlog() {
  if (backlog_.empty()) return std::nullopt;
  BacklogTask t = std::move(backlog_.front());
  backlog_.pop_front();
  sync_outside();
  return t;
}

std::deque<BacklogTask> TaskTable::take_infeasible() {
  std::deque<BacklogTask> out(std::make_move_iterator(infeasible_.begin()), std::make_move_iterator(infeasible_.end()));
  infeasible_.clear();
  sync_outside();
  return out;
}

std::optional<BacklogTask> TaskTable::take_waiting(ObjectId result) {
  const auto is_it = [&](const BacklogTask& t) { return t.result == result; };
  if (auto it = std::find_if(backlog_.begin(), backlog_.end(), is_it); it != backlog_.end()) {
    BacklogTask t = std::move(*it);
    backlog_.erase(it);
    sync_outside();
    return t;
  }
  if (auto it = std::find_if(infeasible_.begin(), infeasible_.end(), is_it); it != infeasible_.end()) {
    BacklogTask t = std::move(*it);
    infeasible_.erase(it);
    sync_outside();
    return t;
  }
  return std::nullopt;
}

bool TaskTable::first_warning(const std::string& key) {
  if (std::find(warned_.begin(), warned_.end(), key) != warned_.end()) return false;
  warned_.push_back(key);
  return true;
}

bool TaskTable::add_deadline(std::uint64_t at_ns, ObjectId result) {
  if (deadlines_.size() >= prune_at_) {
    // Drop the entries of finished (or freed) tasks: the heap stays O(tasks still pending).
    std::vector<Deadline> keep;
    for (; !deadlines_.empty(); deadlines_.pop()) {
      const Deadline d = deadlines_.top();
      const shm::ObjectSlot* s = v_.live(ObjectId{d.second});
      if (s && !v_.word(*s).final()) keep.push_back(d);
    }
    deadlines_ = decltype(deadlines_)(std::greater<>{}, std::move(keep));
    prune_at_ = std::max<std::size_t>(1024, 2 * deadlines_.size());
  }
  const bool earliest = deadlines_.empty() || at_ns < deadlines_.top().first;
  deadlines_.emplace(at_ns, result.value);
  return earliest;
}

std::optional<ObjectId> TaskTable::pop_expired(std::uint64_t now_ns) {
  if (deadlines_.empty() || deadlines_.top().first > now_ns) return std::nullopt;
  const ObjectId id{deadlines_.top().second};
  deadlines_.pop();
  return id;
}

std::vector<TaskTable::Overdue> TaskTable::take_overdue(std::uint64_t now_ns) {
  std::vector<Overdue> due;
  std::erase_if(overdue_, [&](const Overdue& o) { return o.at_ns <= now_ns && (due.push_back(o), true); });
  return due;
}

std::uint64_t TaskTable::next_overdue() const {
  std::uint64_t next = 0;
  for (const Overdue& o : overdue_)
    if (next == 0 || o.at_ns < next) next = o.at_ns;
  return next;
}

}  // namespace shmray::driver
