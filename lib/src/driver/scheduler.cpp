// Scheduling in the driver: a submission becomes a task slot in the shared table (or waits
// in the backlog while the table or the store has no room). A task whose resolved arguments
// are all final is queued on the dispatch ring, where idle workers claim it; otherwise it
// waits in the table (kWaiting) and the driver queues it when the last argument's producer
// reports done. A failed argument fails the task with the same error, without running it.
// Tasks submitted inside tasks arrive already written into slots the driver supplied to
// that worker (adopt_worker_task_locked); the driver takes over from there.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <iostream>
#include <stdexcept>

#include "common/checks.hpp"
#include "common/task_slot.hpp"
#include "driver/driver.hpp"
#include "shm/futex.hpp"
#include "shmray/detail/registry.hpp"
#include "shmray/errors.hpp"
#include "wire/descriptor.hpp"

namespace shmray::driver {

BacklogTask Driver::prepare_submission(const detail::SubmitRequest& req, const std::string& function,
                                       std::uint32_t cpus, bool into_block) {
  const TaskOptions& opt = *req.options;
  const std::size_t args = req.args_source ? req.args_source->size : req.args.size();
  const std::size_t desc_size =
      common::checked_descriptor_size(req.resolve.size(), args, opt.name, v_.geo.arena_bytes, function);
  for (ObjectId id : req.resolve) objects_.check_live(id);
  for (ObjectId id : req.contained) objects_.check_live(id);
  BacklogTask t;
  t.function = req.function;
  if (req.args_source) {
    place_args(t, req, desc_size, into_block);
  } else {
    t.desc = wire::make_descriptor(req.resolve, req.args, opt.name);
  }
  t.resolve = static_cast<std::uint32_t>(req.resolve.size());  // checked_descriptor_size: fits
  t.info.max_retries = opt.max_retries;
  t.info.retry_exceptions = opt.retry_exceptions;
  t.info.killable = opt.timeout.has_value();
  t.info.cpus = cpus;
  t.info.submit_ns = shm::now_ns();
  if (!opt.name.empty()) t.info.name = opt.name;
  return t;
}

void Driver::pin_submission_locked(BacklogTask& t, const detail::SubmitRequest& req) {
  t.result = objects_.allocate_object_locked();
  objects_.add_ref_locked(t.result);  // the producer pin: released when the task is finished
  t.info.result = t.result;
  t.info.pins.reserve(req.resolve.size() + req.contained.size());
  for (ObjectId id : req.resolve) objects_.add_ref_locked(id), t.info.pins.push_back(id);
  for (ObjectId id : req.contained) objects_.add_ref_locked(id), t.info.pins.push_back(id);
}

void Driver::enqueue_locked(BacklogTask&& t) {
  if (tasks_.backlog_empty() && try_publish_locked(t)) return;
  unplace_args_locked(t);
  tasks_.push_backlog(std::move(t));
  shm::atom(v_.shared->driver_flags.value).fetch_or(shm::kFlagBacklog, std::memory_order_seq_cst);
}

ObjectId Driver::submit(const detail::SubmitRequest& req) {
  const detail::FunctionInfo* fn = detail::function_at(req.function);
  if (!fn || fn->kind != detail::FunctionKind::kFunction)
    throw UnregisteredFunctionError("shmray: unknown function index " + std::to_string(req.function));
  const TaskOptions& opt = *req.options;
  const std::uint64_t deadline = common::task_deadline_ns(opt);  // before the args take a block
  BacklogTask t = prepare_submission(req, fn->name, common::checked_cpus(opt), true);
  std::lock_guard lock(mu_);
  try {
    if (!pool_.broken().empty()) throw PoolError(pool_.broken());
    if (events_pending()) pump_locked();
    pin_submission_locked(t, req);
  } catch (...) {
    drop_placed_args_locked(t);
    throw;
  }
  const ObjectId result = t.result;
  if (deadline) add_deadline_locked(deadline, result);
  if (t.info.cpus > v_.geo.num_workers) {
    // As in Ray: a task asking for more CPUs than the runtime has stays pending.
    const std::string key = wire::task_label(fn->name, opt.name) + "/" + std::to_string(t.info.cpus);
    if (tasks_.first_warning(key)) {
      warn("shmray: a task of " + wire::task_label(fn->name, opt.name) +
           " asks for num_cpus=" + std::to_string(opt.num_cpus) + " but the runtime has " +
           std::to_string(v_.geo.num_workers) + "; it stays pending (init() with more workers to run it)");
    }
    unplace_args_locked(t);
    tasks_.push_infeasible(std::move(t));
    return result;
  }
  enqueue_locked(std::move(t));
  return result;
}

bool Driver::try_publish_locked(BacklogTask& t) {
  // Keep a reserve of slots for tasks submitted inside tasks: a table full of driver tasks
  // that each wait for a child must still have room for the children.
  if (tasks_.free_slots() <= driver_task_reserve()) return false;
  if (t.prewritten) {  // in its block already (info.spill)
    publish_locked(std::move(t));
    return true;
  }
  std::uint64_t spill = 0;
  if (t.desc.size() > sizeof(shm::TaskSlot::inline_args)) {
    spill = objects_.try_allocate_block(t.desc.size());
    if (!spill) return false;  // wait for store space in the backlog
    std::memcpy(v_.base + spill, t.desc.data(), t.desc.size());
  }
  t.info.spill = spill;
  publish_locked(std::move(t));
  return true;
}

void Driver::publish_locked(BacklogTask&& t) {
  const std::uint32_t idx = tasks_.take_free_slot();
  shm::TaskSlot& slot = v_.tasks[idx];
  const std::uint32_t gen = shm::TaskWord::unpack(slot.state).gen;
  common::fill_task_slot(slot, {.result = t.result.value,
                                .function = t.function,
                                .args_size = t.prewritten ? t.prewritten : static_cast<std::uint32_t>(t.desc.size()),
                                .args_off = t.info.spill,
                                .cpus = t.info.cpus,
                                .parent = 0,
                                .max_retries = t.info.max_retries,
                                .retry_exceptions = t.info.retry_exceptions,
                                .actor = t.info.actor.value != 0,
                                .killable = t.info.killable});
  if (!t.info.spill) std::memcpy(slot.inline_args, t.desc.data(), t.desc.size());
  v_.objects[t.result.index()].producer = shm::task_ref(idx, gen);

  TaskInfo& info = tasks_[idx];
  info = std::move(t.info);
  info.gen = gen;
  info.live = true;
  if (info.actor.value) note_actor_task_locked(idx);
  shm::store_release(slot.state, shm::TaskWord{gen, shm::TaskState::kWaiting, 0, 0}.pack());
  if (watch_deps_locked(idx, std::span(info.pins).first(t.resolve))) queue_task_locked(idx);
}

bool Driver::watch_deps_locked(std::uint32_t idx, std::span<const ObjectId> resolve) {
  TaskInfo& info = tasks_[idx];
  info.missing = 0;
  const shm::ObjectSlot* failed_dep = nullptr;
  for (ObjectId dep : resolve) {
    shm::ObjectSlot& ds = v_.objects[dep.index()];
    if (shm::set_object_flag(ds, dep.gen(), shm::kObjDriverWatch)) {
      tasks_.add_dependent(dep.index(), idx);
      ++info.missing;
    } else if (v_.word(ds).is(shm::ObjectState::kFailed)) {
      failed_dep = &ds;
    }
  }
  if (failed_dep) {
    std::span<const std::byte> err;
    v_.payload(*failed_dep, err);
    const std::string copy(reinterpret_cast<const char*>(err.data()), err.size());
    fail_task_locked(idx, std::as_bytes(std::span(copy.data(), copy.size())));
    return false;
  }
  return info.missing == 0;
}

void Driver::queue_task_locked(std::uint32_t idx) {
  shm::TaskSlot& slot = v_.tasks[idx];
  std::uint64_t w = shm::load_acquire(slot.state);
  shm::TaskWord tw = shm::TaskWord::unpack(w);
  if (tw.state != shm::TaskState::kWaiting) return;
  TaskInfo& info = tasks_[idx];
  if (info.actor.value) {  // only its actor runs it: sent on the actor's ring, in its caller's order
    tw.state = shm::TaskState::kQueued;
    if (shm::cas(slot.state, w, tw.pack())) queue_actor_task_locked(idx);
    return;
  }
  // num_cpus = k > 1: k - 1 holds queued right behind it. It starts its body only once every
  // hold is claimed (slot.holds counts down), so it runs only with all k CPUs held at once,
  // as Ray admits a task only when all its CPUs are free. The dispatch ring is FIFO, so tasks
  // queued after it do not jump it: they wait behind its holds. Holds made for an earlier
  // attempt (a retry after its worker died) still hold their CPUs and are not made again.
  std::uint32_t new_holds = 0;
  if (info.cpus > 1 && !info.hold && info.holds == 0) {
    new_holds = static_cast<std::uint32_t>(std::min<std::size_t>(info.cpus - 1, tasks_.free_slots()));
    shm::store_release(slot.holds, shm::holds_word(tw.gen, static_cast<std::int32_t>(new_holds)));
  }
  tw.state = shm::TaskState::kQueued;
  if (!shm::cas(slot.state, w, tw.pack())) return;  // release: the descriptor before the claim
  push_dispatch_locked(shm::task_ref(idx, tw.gen));
  push_holds_locked(idx, tw.gen, new_holds);
  // A worker blocked on this result may run it inline now: wake whoever sleeps on it.
  if (shm::ObjectWord::unpack(shm::load_acquire(v_.objects[info.result.index()].state)).flags & shm::kObjWaiters)
    shm::futex_bump_and_wake_all(&v_.hot->object_epoch.value);
  wake_worker();
}

void Driver::push_holds_locked(std::uint32_t idx, std::uint32_t gen, std::uint32_t new_holds) {
  // The holds of a num_cpus > 1 task (queue_task_locked): each one a slot of its own.
  TaskInfo& info = tasks_[idx];
  for (std::uint32_t k = 0; k < new_holds; ++k) {
    push_hold_locked(info.result, shm::task_ref(idx, gen));
    ++info.holds;
  }
}

void Driver::push_hold_locked(ObjectId result, std::uint64_t parent) {
  // A hold keeps one worker (a CPU slot) until `result` is final; `parent` is the main task
  // whose countdown it takes part in (0: none, an actor's holds).
  const std::uint32_t h = tasks_.take_free_slot();
  shm::TaskSlot& hs = v_.tasks[h];
  const std::uint32_t hgen = shm::TaskWord::unpack(hs.state).gen;
  common::fill_task_slot(hs, {.result = result.value, .function = shm::kHoldFunction, .parent = parent});
  TaskInfo& hi = tasks_[h];
  hi = TaskInfo{};
  hi.gen = hgen;
  hi.live = true;
  hi.hold = true;
  hi.result = result;
  objects_.add_ref_locked(result);  // a hold reads the result's state until it is final
  hi.pins.push_back(result);
  shm::store_release(hs.state, shm::TaskWord{hgen, shm::TaskState::kQueued, 0, 0}.pack());
  push_dispatch_locked(shm::task_ref(h, hgen));
}

void Driver::push_dispatch_locked(std::uint64_t task_ref) {
  if (!v_.dispatch.try_push(task_ref)) {
    // The ring holds twice the table and try_push skips dead entries first, so a full ring
    // means a bug; fail loudly rather than lose the task.
    warn("shmray: internal error: dispatch ring full");
    std::abort();
  }
}

void Driver::wake_worker() noexcept {
  shm::full_fence();  // the queued entry before the idle sets: pairs with a worker going to sleep
  v_.wake_one_idle();
}

bool Driver::supplied_locked(std::uint32_t w, const wire::SubmitHeader& h) const {
  const WorkerEnd& we = pool_[w];
  if (!v_.valid_task_ref(h.task_ref)) return false;
  const std::uint32_t idx = shm::task_ref_index(h.task_ref);
  const ObjectId result{h.result};
  return std::find(we.supplied_tasks.begin(), we.supplied_tasks.end(), idx) != we.supplied_tasks.end() &&
         std::find(we.supplied_objects.begin(), we.supplied_objects.end(), result.index()) !=
             we.supplied_objects.end() &&
         v_.live(result);
}

bool Driver::adopt_worker_task_locked(std::uint32_t w, const wire::SubmitHeader& h, std::span<const ObjectId> resolve,
                                      std::span<const ObjectId> contained, std::string name, ObjectId actor,
                                      bool creation) {
  WorkerEnd& we = pool_[w];
  if (!supplied_locked(w, h)) return false;  // not its to use
  const std::uint32_t idx = shm::task_ref_index(h.task_ref);
  const ObjectId result{h.result};
  auto ti = std::find(we.supplied_tasks.begin(), we.supplied_tasks.end(), idx);
  auto oi = std::find(we.supplied_objects.begin(), we.supplied_objects.end(), result.index());
  we.supplied_tasks.erase(ti);
  we.supplied_objects.erase(oi);
  ++we.holds[result.value];         // the supply pin becomes the worker's reference to the result
  objects_.add_ref_locked(result);  // the producer pin

  TaskInfo& info = tasks_[idx];
  info = TaskInfo{};
  info.gen = shm::task_ref_gen(h.task_ref);
  info.live = true;
  info.result = result;
  info.max_retries = h.max_retries;
  info.retry_exceptions = h.retry_exceptions != 0;
  info.cpus = std::max(1u, h.cpus);
  info.name = std::move(name);
  // The worker's stamp (a task it runs inline can start before the driver learns of it); the
  // worker wrote it, so one from the future is the driver's now.
  const std::uint64_t now = shm::now_ns();
  info.submit_ns = h.submit_ns && h.submit_ns <= now ? h.submit_ns : now;
  info.parent = wire::TaskRef{h.parent};
  if (tasks_.current(info.parent)) tasks_[info.parent.index()].has_children = true;
  if (h.deadline_ns && !actor.value) add_deadline_locked(h.deadline_ns, result);
  const shm::TaskSlot& slot = v_.tasks[idx];
  info.spill = slot.args_off;
  // Only the resolve ids that name live objects are watched: a forged one (an index past the
  // table) must never reach watch_deps_locked. They are the first `deps` pins.
  info.pins.reserve(resolve.size() + contained.size());
  const std::size_t deps = objects_.pin_worker_refs_locked(we.pid, resolve, info.pins);
  objects_.pin_worker_refs_locked(we.pid, contained, info.pins);
  if (actor.value) {
    info.actor = actor;
    info.actor_creation = creation;
    info.caller = w + 1;
    info.cpus = 0;
    if (const ActorInfo* a = actors_.find(actor)) info.max_retries = creation ? 0 : a->max_task_retries;
    v_.tasks[idx].task_flags |= shm::kTaskActor;  // whatever the worker wrote: no pool worker may run it
    note_actor_task_locked(idx);
  }

  const shm::TaskWord tw = shm::TaskWord::unpack(shm::load_acquire(slot.state));
  if (tw.gen != info.gen) return true;
  if (actor.value && tw.state == shm::TaskState::kQueued) {
    queue_actor_task_locked(idx);  // a worker leaves its actor calls kWaiting; this one is sent as it is
  } else if (tw.state == shm::TaskState::kQueued) {
    push_dispatch_locked(h.task_ref);  // let idle workers see it (its submitter may run it inline first)
    wake_worker();
  } else if (tw.state == shm::TaskState::kWaiting) {
    if (watch_deps_locked(idx, std::span(info.pins).first(deps))) queue_task_locked(idx);
  }
  // kClaimed / kDone: its submitter already runs or ran it inline; TaskDone follows.
  return true;
}

void Driver::complete_task_locked(std::uint32_t w, const wire::TaskDone& done, std::vector<ObjectId>& contained) {
  if (!v_.valid_task_ref(done.task_ref)) return;
  const std::uint32_t idx = shm::task_ref_index(done.task_ref);
  TaskInfo& info = tasks_[idx];
  const shm::TaskWord tw = shm::TaskWord::unpack(shm::load_acquire(v_.tasks[idx].state));
  if (!info.live || info.gen != shm::task_ref_gen(done.task_ref) || tw.state != shm::TaskState::kDone ||
      tw.owner != w + 1)
    return;  // stale or forged: the task was handled already
  if (timeline_.on())
    drain_timeline_locked(w);  // its end record came before this TaskDone: take it while the task is known
  add_contained_locked(w, info.result, contained);
  finish_task_locked(idx);
}

void Driver::finish_task_locked(std::uint32_t idx) {
  TaskInfo info = std::move(tasks_[idx]);
  tasks_[idx] = TaskInfo{};
  shm::TaskSlot& slot = v_.tasks[idx];
  if (!info.hold) count_outcome_locked(info.result, slot.function, info.submit_ns);
  if (info.spill) free_block_locked(info.spill);
  shm::store_release(slot.state, shm::TaskWord{info.gen + 1, shm::TaskState::kFree, 0, 0}.pack());
  tasks_.give_back_slot(idx);
  for (ObjectId p : info.pins) release_locked(p);
  if (!info.hold) {
    on_final_locked(info.result);
    if (info.actor.value) actor_task_finished_locked(info, idx);
    release_locked(info.result);  // the producer pin
  }
  drain_backlog_locked();
}

void Driver::count_outcome_locked(ObjectId result, std::uint32_t function, std::uint64_t submit_ns) noexcept {
  // The result says how the task ended: ready, or failed with a record whose second byte
  // (after its version) is the kind (wire/error_record.cpp); cancelled and timed out count
  // as cancelled, as do tasks that failed because an argument's task was cancelled.
  const shm::ObjectSlot& s = v_.objects[result.index()];
  const shm::ObjectWord w = v_.word(s);
  Outcome o = Outcome::kFinished;
  if (!w.is(shm::ObjectState::kReady)) {
    std::span<const std::byte> err;
    const bool ok = w.is(shm::ObjectState::kFailed) && v_.payload(s, err) && err.size() >= 2;
    const auto kind = ok ? wire::ErrorKind(err[1]) : wire::ErrorKind::kTaskError;
    o = kind == wire::ErrorKind::kCancelled || kind == wire::ErrorKind::kTimeout ? Outcome::kCancelled
                                                                                 : Outcome::kFailed;
  }
  const std::uint64_t now = submit_ns ? shm::now_ns() : 0;
  counters_.record(function, o, now > submit_ns ? now - submit_ns : 0);
}

void Driver::fail_task_locked(std::uint32_t idx, std::span<const std::byte> error_payload) {
  objects_.write_payload_locked(tasks_[idx].result, shm::ObjectState::kFailed, error_payload);
  finish_task_locked(idx);
}

void Driver::on_final_locked(ObjectId obj) {
  const std::vector<std::uint32_t> waiting = tasks_.take_dependents(obj.index());
  if (waiting.empty()) return;
  const shm::ObjectSlot& s = v_.objects[obj.index()];
  const bool failed = v_.word(s).is(shm::ObjectState::kFailed);
  std::string error;
  if (failed) {
    std::span<const std::byte> err;
    v_.payload(s, err);
    error.assign(reinterpret_cast<const char*>(err.data()), err.size());
  }
  for (std::uint32_t t : waiting) {
    TaskInfo& info = tasks_[t];
    if (!info.live) continue;
    if (failed) {
      fail_task_locked(t, std::as_bytes(std::span(error.data(), error.size())));
    } else if (info.missing > 0 && --info.missing == 0) {
      queue_task_locked(t);
    }
  }
}

void Driver::drain_backlog_locked() {
  while (!tasks_.backlog_empty() && try_publish_locked(tasks_.backlog_front())) tasks_.pop_backlog_front();
  if (tasks_.backlog_empty())
    shm::atom(v_.shared->driver_flags.value).fetch_and(~shm::kFlagBacklog, std::memory_order_seq_cst);
}

}  // namespace shmray::driver
