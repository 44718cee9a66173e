// Running one task's function: the call an invoker sees (arguments read in place, the
// result written into the store), retries in place, the error record of a failure, and the
// TaskDone report.
#include <cxxabi.h>
#include <unistd.h>

#include <cstring>
#include <exception>
#include <memory>
#include <stdexcept>
#include <typeinfo>

#include "common/payload_write.hpp"
#include "shm/futex.hpp"
#include "shm/task_label.hpp"
#include "shmray/detail/invoke.hpp"
#include "shmray/detail/registry.hpp"
#include "shmray/errors.hpp"
#include "wire/descriptor.hpp"
#include "wire/error_record.hpp"
#include "worker/runtime_internal.hpp"
#include "worker/worker_runtime.hpp"

namespace shmray::worker {

namespace {

/// The task's name in the worker's log lines while its function runs (shm/task_label.hpp):
/// the innermost task's, the outer one's again when an inline task returns. The names are
/// views of the tasks' descriptors or the registry, alive while their tasks run.
class LabelScope {
 public:
  LabelScope(shm::WorkerControl& c, std::vector<std::string_view>& names, std::string_view name)
      : c_(c), names_(names) {
    names_.push_back(name);
    shm::write_running_label(c_, name);
  }
  ~LabelScope() {
    names_.pop_back();
    if (names_.empty())
      shm::write_idle_label(c_);
    else
      shm::write_running_label(c_, names_.back());
  }
  LabelScope(const LabelScope&) = delete;
  LabelScope& operator=(const LabelScope&) = delete;

 private:
  shm::WorkerControl& c_;
  std::vector<std::string_view>& names_;
};

/// A failed argument: the task fails with that object's error record, byte for byte.
struct ArgumentFailed {
  std::string payload;
};

// Describes the exception in flight as an error record. An error that came from a child
// (its get() threw) keeps the child's record, the original thrower, and adds this task to
// the tasks it passed through: the same cause as through an argument dependency.
wire::ErrorRecord describe_current_exception(const std::string& function, std::string_view task_name) {
  wire::ErrorRecord r;
  r.kind = wire::ErrorKind::kTaskError;
  r.function = function;
  r.pid = ::getpid();
  r.task_name = task_name;
  const std::string here = task_name.empty() ? function : std::string(task_name);
  // Through a very deep chain the list keeps its two ends: records stay small at any depth.
  auto pass = [&here](std::vector<std::string>& via) {
    constexpr std::size_t kMaxVia = 64;
    if (via.size() >= kMaxVia) {
      via.erase(via.begin() + kMaxVia / 2, via.end() - (kMaxVia / 2 - 2));
      via.insert(via.begin() + kMaxVia / 2, "...");
    }
    via.push_back(here);
  };
  const std::type_info* t = abi::__cxa_current_exception_type();
  r.type_name = t ? wire::demangle(t->name()) : "unknown exception";
  auto passed_through = [&](wire::ErrorKind kind, const char* what) {
    r.kind = kind;
    r.type_name.clear();
    r.message = what;
    pass(r.via);
  };
  try {
    throw;
  } catch (const TaskTableFullError& e) {
    r.kind = wire::ErrorKind::kTaskTableFull;
    r.message = e.what();                   // unprefixed: it passes up whole chains of tasks, each would add one
  } catch (const wire::RecordCarrier& c) {  // what a get() of a failed object threw, whole
    r = c.record();
    pass(r.via);
  } catch (const TaskError& e) {  // a copy of one (the record is in its fields)
    r.type_name = e.type_name();
    r.message = e.message();
    r.function = e.function();
    r.pid = e.pid();
    r.task_name = e.task_name() == e.function() ? std::string() : e.task_name();
    r.via = e.via();
    pass(r.via);
  } catch (const TaskTimeoutError& e) {  // before its base, TaskCancelledError
    passed_through(wire::ErrorKind::kTimeout, e.what());
  } catch (const TaskCancelledError& e) {
    passed_through(wire::ErrorKind::kCancelled, e.what());
  } catch (const WorkerCrashedError& e) {
    passed_through(wire::ErrorKind::kWorkerCrashed, e.what());
  } catch (const ObjectStoreFullError& e) {
    r.kind = wire::ErrorKind::kStoreFull;
    r.message = function + ": " + e.what();
  } catch (const SerializationError& e) {
    r.kind = wire::ErrorKind::kSerialization;
    r.message = function + ": " + e.what();
  } catch (const std::exception& e) {
    const char* what = e.what();  // may be null: a std::string from it would crash the worker
    r.message = what ? what : "(what() returned null)";
  } catch (...) {
  }
  return r;
}

}  // namespace

/// What an invoker sees: the argument bytes, argument objects read in place, and where the
/// result goes.
class WorkerRuntime::Call final : public detail::TaskCall {
 public:
  Call(WorkerRuntime& rt, Running r, std::span<const std::byte> args) : rt_(rt), r_(r), ar_(args) {}
  detail::InArchive& args() override { return ar_; }
  std::span<const std::byte> resolve(ObjectId id) override {
    const shm::ObjectSlot* s = rt_.v_.live(id);
    if (!s) detail::throw_serialization_error("an argument names no object");
    const shm::ObjectWord w = rt_.v_.word(*s);
    std::span<const std::byte> bytes;
    if (w.gen != id.gen() || !w.final() || !rt_.v_.payload(*s, bytes))
      detail::throw_serialization_error("an argument object is not ready (internal error)");
    if (w.is(shm::ObjectState::kFailed))
      throw ArgumentFailed{std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size())};
    return bytes;
  }
  void set_result(const detail::ValueSource& value) override { rt_.publish_result(r_, value); }
  void set_result_block(const detail::ValueBlock& block) override { rt_.publish_block(r_, block.offset, block.size); }
  void* actor_instance() override { return rt_.actor_self_; }
  void set_actor_instance(void* self, void (*destroy)(void*)) override { rt_.keep_actor(self, destroy); }
  void before_body() override {
    // Decoding can take long (a large argument); a task cancelled meanwhile must not start.
    // The fence pairs with the driver's force-cancel (cancel.cpp): it raises the flag, then
    // reads bottom_task; we wrote bottom_task, then read the flag: one of us sees the other.
    shm::full_fence();
    if (rt_.task_cancelled(r_)) throw TaskCancelledError("shmray: the task was cancelled before its body ran");
  }

 private:
  WorkerRuntime& rt_;
  const Running r_;  // a copy: inline tasks grow stack_ while this call runs
  detail::InArchive ar_;
};

// Runs the task's function (again in place for retry_exceptions while retries are left).
// True when it failed, with the error record in `error`.
bool WorkerRuntime::run_function(const Running& r, std::string& error) {
  const shm::TaskSlot& slot = v_.task(r.task_ref);
  bool failed = false;
  const detail::FunctionInfo* fn = detail::function_at(slot.function);
  static const std::string kUnknown = "<unknown function>";
  const std::string& fname = fn ? fn->name : kUnknown;  // no copy per task
  const auto parsed = wire::parse_descriptor(v_.descriptor(slot));
  const LabelScope label(ctl_, labels_, parsed && !parsed->name.empty() ? parsed->name : std::string_view(fname));
  if (slot.num_cpus_centi > 100 && !wait_for_holds(r)) {  // num_cpus > 1: all its CPUs first
    failed = true;
    error = wire::encode(wire::ErrorRecord{wire::ErrorKind::kCancelled,
                                           "",
                                           "shmray: " + fname + " was cancelled",
                                           fname,
                                           ::getpid(),
                                           parsed ? std::string(parsed->name) : std::string(),
                                           {}});
  } else if (!parsed || !fn) {
    failed = true;
    wire::ErrorRecord e{wire::ErrorKind::kSerialization,
                        "",
                        !fn ? "shmray: task names an unknown function" : "shmray: corrupt task descriptor for " + fname,
                        fname,
                        ::getpid(),
                        parsed ? std::string(parsed->name) : std::string(),
                        {}};
    error = wire::encode(e);
  } else {
    // retry_exceptions: run it again in place while retries are left (and it is wanted).
    const bool retry = (slot.task_flags & shm::kTaskRetryExceptions) != 0;
    const std::int32_t max_retries = slot.max_retries;
    for (std::int32_t attempt = 0;; ++attempt) {
      Call call(*this, r, parsed->args);
      try {
        if (fn->kind == detail::FunctionKind::kMethod) {
          if (!actor_self_)  // only a forged task names a method outside an actor's process
            throw std::logic_error("shmray: " + fn->name + " is an actor method, run with no actor object");
          fn->invoke_method(fn->method.data(), actor_self_, call);
        } else
          fn->invoke(fn->address, call);
        leave_if_forked();
        break;
      } catch (ArgumentFailed& a) {
        failed = true;
        error = std::move(a.payload);
        break;
      } catch (...) {
        leave_if_forked();
        error = wire::encode(describe_current_exception(fname, parsed->name));
        if (retry && (max_retries < 0 || attempt < max_retries) && !task_cancelled(r)) {
          if (timeline_.on()) [[unlikely]] {  // this attempt ends; the next one is a slice of its own
            const std::uint64_t now = shm::now_ns();
            record(r.task_ref, now, shm::TimelineKind::kEnd, std::uint32_t(shm::TimelineOutcome::kRetried));
            record(r.task_ref, now, shm::TimelineKind::kStart, static_cast<std::uint32_t>(stack_.size()));
          }
          continue;
        }
        failed = true;
        break;
      }
    }
  }
  return failed;
}

bool WorkerRuntime::publish_result(const Running& r, const detail::ValueSource& value) {
  leave_if_forked();                        // before anything a second copy of this worker could write
  if (value.contained.size() > UINT32_MAX)  // TaskDone::contained
    throw ObjectStoreFullError("shmray: a result holding more than 2^32 - 1 ObjectRefs; return fewer refs");
  if (!value.contained.empty()) {  // its refs may be dropped before TaskDone pins them: hold releases till then
    std::lock_guard lock(mu_);
    if (publishing_depth_ == 0) publishing_depth_ = stack_.size();
  }
  if (value.size <= shm::kInlineBytes) {
    std::byte staged[shm::kInlineBytes];
    if (value.size) {
      try {
        value.write(value.ctx, {staged, value.size});
      } catch (...) {
        detail::rethrow_result_not_serializable();
      }
    }
    shm::ObjectSlot* s = common::begin_payload(v_, r.result);
    if (!s) return false;  // not pending any more (cancelled)
    common::place_inline(*s, {staged, value.size});
    contained_.assign(value.contained.begin(), value.contained.end());
    result_flags_ = common::finish_payload(v_, *s, shm::ObjectState::kReady);
    return true;
  }
  const std::uint64_t off = allocate_block_waiting(value.size);  // ObjectStoreFullError: the task fails with it
  try {
    value.write(value.ctx, {v_.base + off, value.size});
  } catch (...) {
    free_block(off);
    detail::rethrow_result_not_serializable();
  }
  contained_.assign(value.contained.begin(), value.contained.end());
  return publish_block(r, off, value.size);
}

bool WorkerRuntime::publish_block(const Running& r, std::uint64_t offset, std::size_t size) {
  leave_if_forked();
  shm::ObjectSlot* s = v_.arena_bytes(offset, size) ? common::begin_payload(v_, r.result) : nullptr;
  if (!s) {
    free_block(offset);  // cancelled meanwhile: the result is dropped
    contained_.clear();
    return false;
  }
  common::place_block(*s, offset, size);
  result_flags_ = common::finish_payload(v_, *s, shm::ObjectState::kReady);
  return true;
}

void WorkerRuntime::publish_error(const Running& r, const std::string& payload) {
  leave_if_forked();
  contained_.clear();
  // First without waiting; a shrunk record may wait for room up to store_full_timeout, and
  // still without room it is kept truncated inline.
  auto allocate = [this](std::size_t bytes, bool last) -> std::uint64_t {
    if (!last) {
      std::lock_guard lock(mu_);
      return heap_.allocate(bytes);
    }
    try {
      return allocate_block_waiting(bytes);
    } catch (const Error&) {  // still no room after store_full_timeout
      return 0;
    }
  };
  std::uint32_t flags = 0;
  if (common::write_payload(v_, r.result, shm::ObjectState::kFailed,
                            std::as_bytes(std::span(payload.data(), payload.size())), allocate, &flags))
    result_flags_ = flags;
}

bool WorkerRuntime::pins_free_memory(const Running& r) const {
  const shm::TaskSlot& slot = v_.task(r.task_ref);
  const auto d = wire::parse_descriptor(v_.descriptor(slot));
  if (!d) return false;
  for (std::uint32_t i = 0; i < d->resolve; ++i)
    if (memory_refs(d->resolve_id(i)) <= 1) return true;
  return false;
}

void WorkerRuntime::finish(const Running& r, bool failed) {
  const bool pins_free = pins_free_memory(r);  // before Done: then the driver may recycle the slot
  shm::TaskSlot& slot = v_.task(r.task_ref);
  std::uint64_t w = shm::load_acquire(slot.state);
  for (;;) {
    shm::TaskWord tw = shm::TaskWord::unpack(w);
    if (tw.gen != shm::task_ref_gen(r.task_ref) || tw.state != shm::TaskState::kClaimed || tw.owner != task_owner_)
      break;
    tw.state = shm::TaskState::kDone;
    if (shm::cas(slot.state, w, tw.pack())) break;
  }
  wire::TaskDone done{r.task_ref, r.result.value, static_cast<std::uint32_t>(failed ? 0 : contained_.size()),
                      failed ? 1u : 0u};
  std::span<const std::byte> ids = failed ? std::span<const std::byte>() : std::as_bytes(std::span(contained_));
  post(wire::MsgType::kTaskDone, std::as_bytes(std::span(&done, 1)), ids);
  contained_.clear();
  bool wake_driver;
  {
    std::lock_guard lock(mu_);
    if (publishing_depth_ == stack_.size()) publishing_depth_ = 0;
    wake_driver = flush_releases_locked();  // only now: the driver has registered what the result contains
    wake_driver |= done_may_free_ || (result_flags_ & shm::kObjDriverWatch) ||
                   events_.used() > events_.capacity() / 2 || timeline_.filling();
    if (stack_.size() == 1) done_may_free_ = false;  // the bottom task's pins are the last to go
  }
  // This TaskDone frees memory (an argument nobody else holds), or someone waits for store
  // space and the pins it releases may be that room: the driver should not sleep on it.
  if (pins_free || shm::load_relaxed(v_.hot->arena_epoch.aux) != 0) wake_driver = true;
  const std::uint32_t flags = shm::load_relaxed(v_.shared->driver_flags.value);
  if ((flags & shm::kFlagBacklog) && v_.dispatch.size() < v_.task_capacity / 4) wake_driver = true;
  result_flags_ = 0;
  if (wake_driver) ring_doorbell();
}

}  // namespace shmray::worker
