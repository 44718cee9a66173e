#include "workerproc/worker_runtime.hpp"

#include <cxxabi.h>
#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <exception>
#include <memory>
#include <stdexcept>
#include <typeinfo>

#include "common/checks.hpp"
#include "common/store_space.hpp"
#include "driver/driver.hpp"  // kControlFree
#include "shm/futex.hpp"
#include "shmray/detail/invoke.hpp"
#include "shmray/detail/registry.hpp"
#include "shmray/errors.hpp"
#include "wire/descriptor.hpp"
#include "wire/error_record.hpp"

namespace shmray::worker {

namespace {

bool g_forked_child = false;  // set in a child a task forked (pthread_atfork); read without a syscall

constexpr std::uint64_t kIdleSpinNs = 50'000;  // see limits: a shorter spin makes the next wake slower
constexpr std::uint32_t kMaxIdleSpinners = 1;
constexpr std::int64_t kExtraIdleNs = 1'000'000'000;  // an extra worker idle this long exits
constexpr std::int64_t kTrimIdleNs = 1'000'000'000;   // a worker idle this long returns freed memory  // more spinners would take the CPUs busy processes need

constexpr std::uint64_t kMinSupplyWaitNs = 200'000'000;  // the driver's housekeeping period

class NoHelpWait final : public common::WaitHelper {};

/// A failed argument: the task fails with that object's error record, byte for byte.
struct ArgumentFailed {
  std::string payload;
};

std::string demangle(const char* name) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> out(abi::__cxa_demangle(name, nullptr, nullptr, &status), std::free);
  return status == 0 && out ? std::string(out.get()) : std::string(name);
}

// Describes the exception in flight as an error record.
wire::ErrorRecord describe_current_exception(const std::string& function) {
  wire::ErrorRecord r;
  r.kind = wire::ErrorKind::kTaskError;
  r.function = function;
  r.pid = ::getpid();
  const std::type_info* t = abi::__cxa_current_exception_type();
  r.type_name = t ? demangle(t->name()) : "unknown exception";
  try {
    throw;
  } catch (const TaskTableFullError& e) {
    r.kind = wire::ErrorKind::kTaskTableFull;
    r.message = e.what();  // unprefixed: it passes up whole chains of tasks, each would add one
  } catch (const ObjectStoreFullError& e) {
    r.kind = wire::ErrorKind::kStoreFull;
    r.message = function + ": " + e.what();
  } catch (const SerializationError& e) {
    r.kind = wire::ErrorKind::kSerialization;
    r.message = function + ": " + e.what();
  } catch (const std::exception& e) {
    r.message = e.what();
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
    if (w.is(shm::ObjectState::kFailed)) throw ArgumentFailed{std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size())};
    return bytes;
  }
  void set_result(const detail::ValueSource& value) override { rt_.publish_result(r_, value); }
  void set_result_block(const detail::ValueBlock& block) override { rt_.publish_block(r_, block.offset, block.size); }

 private:
  WorkerRuntime& rt_;
  const Running r_;  // a copy: inline tasks grow stack_ while this call runs
  detail::InArchive ar_;
};

WorkerRuntime::WorkerRuntime(const shm::Segment& seg, std::uint32_t slot)
    : v_(seg),
      seg_(seg),
      ctl_(seg.worker(slot)),
      slot_(slot),
      task_owner_(static_cast<std::uint16_t>(slot + 1)),
      heap_(v_.spans, shm::owner_of_worker(slot)),
      events_(&ctl_.events, seg.event_buffer(slot), v_.header->event_ring_bytes),
      control_(&ctl_.control, seg.control_entries(slot), v_.header->control_ring_entries) {
  releases_.reserve(256);
}

void WorkerRuntime::run() {
  for (;;) run_task(next_task());
}

std::uint64_t WorkerRuntime::next_task() {
  for (;;) {
    drain_control();
    if (auto ref = v_.dispatch.claim(task_owner_)) return *ref;
    // Spin a while (one idle worker at a time), then sleep on our own wake word.
    v_.spinning.set(slot_);
    if (v_.spinning.count() <= kMaxIdleSpinners) {
      const std::uint64_t until = shm::now_ns() + kIdleSpinNs;
      while (shm::now_ns() < until && v_.dispatch.empty()) shm::cpu_relax();
    }
    v_.spinning.clear(slot_);
    if (!v_.dispatch.empty()) continue;
    {
      std::lock_guard lock(mu_);
      flush_releases_locked();  // an idle worker must not sit on references
    }
    const std::uint32_t seen = shm::atom(ctl_.wake).load(std::memory_order_seq_cst);
    v_.sleeping.set(slot_);
    shm::atom(ctl_.state).store(std::uint32_t(shm::WorkerState::kSleeping), std::memory_order_seq_cst);
    // Pairs with the fence in Driver::wake_worker: either it sees kSleeping or we see its task.
    // A worker started while others were blocked leaves once it has been idle a while.
    // A worker that ran tasks since it last trimmed wakes once after a second idle to give
    // back the memory its tasks freed (the heap keeps it for reuse while work flows).
    const bool extra = shm::load_relaxed(ctl_.extra) != 0;
    std::int64_t limit = -1;
    if (extra) limit = kExtraIdleNs;
    else if (!trimmed_) limit = kTrimIdleNs;
    bool timed_out = false;
    if (v_.dispatch.empty() && control_.empty()) timed_out = !shm::futex_wait(&ctl_.wake, seen, std::chrono::nanoseconds(limit));
    if (timed_out && extra && v_.dispatch.empty()) {
      std::lock_guard lock(mu_);
      flush_releases_locked();
      ::_exit(0);
    }
    if (timed_out && !trimmed_) {
      ::malloc_trim(0);
      trimmed_ = true;
    }
    std::uint32_t st = std::uint32_t(shm::WorkerState::kSleeping);
    shm::cas(ctl_.state, st, std::uint32_t(shm::WorkerState::kIdle));
    v_.sleeping.clear(slot_);
  }
}

void WorkerRuntime::drain_control() {
  if (control_.empty()) return;
  bool released = false;
  {
    std::lock_guard lock(mu_);
    released = drain_control_locked();
  }
  shm::SegmentHeader& h = *v_.header;
  if (released && shm::atom(h.arena_epoch.aux).load(std::memory_order_seq_cst) != 0)
    shm::futex_bump_and_wake_all(&h.arena_epoch.value);  // someone waits for store space
}

bool WorkerRuntime::drain_control_locked() {
  bool released = false;
  while (auto e = control_.try_pop()) {
    const std::uint64_t kind = *e & ~driver::kControlPayload, payload = *e & driver::kControlPayload;
    if (kind == driver::kControlFree) {
      released |= heap_.free(payload);
    } else if (kind == driver::kControlObject && payload < v_.object_capacity) {
      object_supply_.push_back(static_cast<std::uint32_t>(payload));
    } else if (kind == driver::kControlTask && payload < v_.task_capacity) {
      task_supply_.push_back(static_cast<std::uint32_t>(payload));
    }
  }
  return released;
}

void WorkerRuntime::run_task(std::uint64_t task_ref) {
  shm::TaskSlot& slot = v_.task(task_ref);
  Running r;
  r.task_ref = task_ref;
  r.result = ObjectId{slot.result};
  stack_.push_back(r);
  if (stack_.size() == 1) shm::store_release(ctl_.bottom_task, task_ref);  // force cancel may kill only this one
  shm::store_relaxed(ctl_.current_task, task_ref);
  shm::store_relaxed(ctl_.state, std::uint32_t(shm::WorkerState::kRunning));
  ctl_.depth = static_cast<std::uint32_t>(stack_.size());
  // Wake a sleeping worker when more is queued and nobody is spinning for it.
  if (!v_.dispatch.empty()) v_.wake_one_idle();

  bool failed = false;
  std::string error;
  if (slot.function == shm::kHoldFunction) {
    run_hold(r);
  } else {
    const detail::FunctionInfo* fn = detail::function_at(slot.function);
    static const std::string kUnknown = "<unknown function>";
    const std::string& fname = fn ? fn->name : kUnknown;  // no copy per task
    const auto parsed = wire::parse_descriptor(v_.descriptor(slot));
    if (!parsed || !fn) {
      failed = true;
      wire::ErrorRecord e{wire::ErrorKind::kSerialization, "",
                          !fn ? "shmray: task names an unknown function" : "shmray: corrupt task descriptor for " + fname,
                          fname, ::getpid()};
      error = wire::encode(e);
    } else {
      // retry_exceptions: run it again in place while retries are left (and it is wanted).
      const bool retry = (slot.task_flags & shm::kTaskRetryExceptions) != 0;
      const std::int32_t max_retries = slot.max_retries;
      for (std::int32_t attempt = 0;; ++attempt) {
        Call call(*this, r, parsed->args);
        try {
          fn->invoke(fn->address, call);
          leave_if_forked();
          break;
        } catch (ArgumentFailed& a) {
          failed = true;
          error = std::move(a.payload);
          break;
        } catch (...) {
          leave_if_forked();
          error = wire::encode(describe_current_exception(fname));
          if (retry && (max_retries < 0 || attempt < max_retries) && !task_cancelled(r)) continue;
          failed = true;
          break;
        }
      }
    }
    if (failed) publish_error(r, error);
  }
  finish(r, failed);
  stack_.pop_back();
  if (stack_.empty()) shm::store_release(ctl_.bottom_task, std::uint64_t{0});
  ctl_.depth = static_cast<std::uint32_t>(stack_.size());
  shm::store_relaxed(ctl_.current_task, stack_.empty() ? 0 : stack_.back().task_ref);
  shm::store_relaxed(ctl_.state, std::uint32_t(stack_.empty() ? shm::WorkerState::kIdle : shm::WorkerState::kRunning));
  ++ctl_.tasks_run;
  trimmed_ = false;
}

void WorkerRuntime::run_hold(const Running& r) {
  // Keep this worker (one CPU slot) busy until the main task's result is final or gone.
  NoHelpWait helper;
  shm::ObjectWord w;
  common::wait_final(v_, r.result, detail::Deadline::never(), helper, w);
}

bool WorkerRuntime::publish_result(const Running& r, const detail::ValueSource& value) {
  leave_if_forked();  // before anything a second copy of this worker could write
  if (value.contained.size() > UINT32_MAX)  // TaskDone::contained
    throw ObjectStoreFullError("shmray: a result holding more than 2^32 - 1 ObjectRefs; return fewer refs");
  if (value.size <= shm::kInlineBytes) {
    std::byte staged[shm::kInlineBytes];
    if (value.size) {
      try {
        value.write(value.ctx, {staged, value.size});
      } catch (...) {
        detail::rethrow_result_not_serializable();
      }
    }
    shm::ObjectSlot* s = v_.slot(r.result);
    if (!s || !shm::begin_object_write(*s, r.result.gen())) return false;  // not pending any more (cancelled)
    std::memcpy(s->inline_data, staged, value.size);
    s->data = 0;
    s->size = value.size;
    contained_.assign(value.contained.begin(), value.contained.end());
    result_flags_ = shm::finish_object_write(*s, shm::ObjectState::kReady);
    if (result_flags_ & shm::kObjWaiters) shm::futex_bump_and_wake_all(&v_.header->object_epoch.value);
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
  shm::ObjectSlot* s = v_.slot(r.result);
  if (!s || !v_.arena_bytes(offset, size) || !shm::begin_object_write(*s, r.result.gen())) {
    free_block(offset);  // cancelled meanwhile: the result is dropped
    contained_.clear();
    return false;
  }
  s->data = offset;
  s->size = size;
  result_flags_ = shm::finish_object_write(*s, shm::ObjectState::kReady);
  if (result_flags_ & shm::kObjWaiters) shm::futex_bump_and_wake_all(&v_.header->object_epoch.value);
  return true;
}

void WorkerRuntime::publish_error(const Running& r, const std::string& payload) {
  leave_if_forked();
  contained_.clear();
  shm::ObjectSlot* s = v_.slot(r.result);
  if (!s || !shm::begin_object_write(*s, r.result.gen())) return;
  std::uint64_t off = 0;
  std::size_t n = payload.size();
  if (n > shm::kInlineBytes) {
    std::lock_guard lock(mu_);
    off = heap_.allocate(n);
    if (!off) n = shm::kInlineBytes;  // no room even for the record: a truncated one beats none
  }
  if (off) {
    std::memcpy(v_.base + off, payload.data(), n);
  } else {
    std::memcpy(s->inline_data, payload.data(), n);
  }
  s->data = off;
  s->size = n;
  result_flags_ = shm::finish_object_write(*s, shm::ObjectState::kFailed);
  if (result_flags_ & shm::kObjWaiters) shm::futex_bump_and_wake_all(&v_.header->object_epoch.value);
}

void WorkerRuntime::finish(const Running& r, bool failed) {
  shm::TaskSlot& slot = v_.task(r.task_ref);
  std::uint64_t w = shm::load_acquire(slot.state);
  for (;;) {
    shm::TaskWord tw = shm::TaskWord::unpack(w);
    if (tw.gen != shm::task_ref_gen(r.task_ref) || tw.state != shm::TaskState::kClaimed || tw.owner != task_owner_) break;
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
    flush_releases_locked();  // only now: the driver has registered what the result contains
    wake_driver = (result_flags_ & shm::kObjDriverWatch) || events_.used() > events_.capacity() / 2;
  }
  const std::uint32_t flags = shm::load_relaxed(v_.header->driver_flags.value);
  if ((flags & shm::kFlagBacklog) && v_.dispatch.size() < v_.task_capacity / 4) wake_driver = true;
  result_flags_ = 0;
  if (wake_driver) ring_doorbell();
}

void WorkerRuntime::post(wire::MsgType type, std::span<const std::byte> a, std::span<const std::byte> b) {
  if (g_forked_child)  // a second producer would corrupt the ring
    throw Error("shmray: a process forked inside a task cannot use the runtime (use exec or _exit in the child)");
  std::lock_guard lock(mu_);
  // A message larger than one record goes as consecutive pieces the driver joins (kMessageMore
  // on all but the last); holding mu_ throughout keeps other messages from coming between.
  const std::size_t total = a.size() + b.size();
  std::size_t done = 0;
  do {
    const std::size_t n = std::min<std::size_t>(total - done, events_.max_payload());
    const bool more = done + n < total;
    std::byte* into = reserve_waiting_locked(type, n, more ? shm::kMessageMore : 0);
    for (std::size_t i = 0; i < n;) {  // bytes [done + i, ...) of a then b
      const std::size_t at = done + i;
      const std::span<const std::byte> from = at < a.size() ? a.subspan(at) : b.subspan(at - a.size());
      const std::size_t k = std::min(from.size(), n - i);
      std::memcpy(into + i, from.data(), k);
      i += k;
    }
    events_.commit();
    done += n;
  } while (done < total);
}

std::byte* WorkerRuntime::reserve_waiting_locked(wire::MsgType type, std::size_t size, std::uint16_t flags) {
  // The driver drains every ring (its event thread at the latest every 200 ms, at once when
  // rung); a worker whose driver is gone is killed by the fork server.
  for (std::uint32_t spins = 0;; ++spins) {
    std::span<std::byte> into =
        events_.reserve(static_cast<std::uint16_t>(type), static_cast<std::uint32_t>(size), flags);
    if (into.data()) return into.data();
    ring_doorbell();
    if (spins < 1000) {
      shm::cpu_relax();
    } else {
      ::usleep(50);  // a long message: give the driver's CPU to the driver
    }
  }
}

void WorkerRuntime::flush_releases_locked() {
  std::size_t done = 0;
  while (done < releases_.size()) {
    const std::size_t chunk = std::min<std::size_t>(releases_.size() - done, events_.max_payload() / 8);
    std::byte* into = reserve_waiting_locked(wire::MsgType::kRelease, chunk * 8, 0);
    std::memcpy(into, releases_.data() + done, chunk * 8);
    events_.commit();
    done += chunk;
  }
  releases_.clear();
}

void WorkerRuntime::ring_doorbell() noexcept {
  shm::full_fence();  // our ring writes before the "sleeping" check
  if (shm::load_relaxed(v_.header->doorbell.aux) != 0) shm::futex_bump_and_wake_all(&v_.header->doorbell.value);
}

std::uint64_t WorkerRuntime::allocate_block_waiting(std::size_t bytes) {
  return common::allocate_waiting(
      *v_.header, bytes,
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

// ------------------------------------------------------------------ API inside a task

// Waiting inside a task. The rule that keeps nested tasks from deadlocking: a worker that
// waits for an object runs, inline, the task that produces it when that task is still
// queued (or, when it waits for its arguments, the queued tasks those come from). A worker
// thus only ever stacks a task on top of one that waits for it, so the tasks on one stack
// form a chain of the dependency DAG and no stack can hold up a task below it. A chain of
// waits that leaves a stack ends at a task that runs on another worker (which makes
// progress by the same argument, the DAG being finite) or at one not yet published (the
// driver publishes it). Running anything else inline could strand a resumable task under
// an unrelated blocked one; instead a blocked worker reports itself and the driver may
// start an extra worker (at most max_workers in all) so queued work keeps its CPUs.
class WorkerRuntime::InlineHelper final : public common::WaitHelper {
 public:
  InlineHelper(WorkerRuntime& rt, std::span<const ObjectId> ids) : rt_(rt), ids_(ids) {}
  ~InlineHelper() { rt_.set_blocked(false); }
  bool help() override {
    if (rt_.stack_.empty()) return false;  // not inside a task (a thread of the task's own): just wait
    rt_.throw_if_cancelled();
    for (ObjectId id : ids_)
      if (rt_.try_run_producer(id, 0)) return true;
    return false;
  }
  std::int64_t before_sleep() override {
    if (!rt_.stack_.empty()) rt_.set_blocked(true);
    return 100'000'000;  // a safety net only: queueing a task we wait on bumps object_epoch
  }

 private:
  WorkerRuntime& rt_;
  std::span<const ObjectId> ids_;
};

bool WorkerRuntime::try_run_producer(ObjectId id, int depth) {
  const shm::ObjectSlot* s = v_.slot(id);
  if (!s || depth > 64) return false;
  const shm::ObjectWord ow = v_.word(*s);
  if (ow.gen != id.gen() || !ow.open()) return false;
  const std::uint64_t ref = shm::load_acquire(const_cast<std::uint64_t&>(s->producer));
  if (!v_.valid_task_ref(ref)) return false;
  shm::TaskSlot& t = v_.task(ref);
  const shm::TaskWord tw = shm::TaskWord::unpack(shm::load_acquire(t.state));
  if (tw.gen != shm::task_ref_gen(ref)) return false;
  if (tw.state == shm::TaskState::kQueued) {
    if (!shm::try_claim_task(t, tw.gen, task_owner_)) return false;
    set_blocked(false);
    run_task(ref);
    return true;
  }
  if (tw.state == shm::TaskState::kWaiting) {
    // Its arguments' producers may be queued: run those (the slot may change under us; every
    // id read here is checked again before use).
    if (auto d = wire::parse_descriptor(v_.descriptor(t)))
      for (std::uint32_t i = 0; i < d->resolve && i < 4096; ++i)
        if (try_run_producer(d->resolve_id(i), depth + 1)) return true;
  }
  return false;
}

bool WorkerRuntime::run_own_child() {
  while (!own_children_.empty()) {
    const std::uint64_t ref = own_children_.front();
    own_children_.erase(own_children_.begin());
    shm::TaskSlot& t = v_.task(ref);
    if (shm::try_claim_task(t, shm::task_ref_gen(ref), task_owner_)) {
      run_task(ref);
      return true;
    }
  }
  return false;
}

void WorkerRuntime::set_blocked(bool blocked) {
  if (blocked == blocked_reported_) return;
  blocked_reported_ = blocked;
  shm::store_relaxed(ctl_.state, std::uint32_t(blocked ? shm::WorkerState::kBlocked : shm::WorkerState::kRunning));
  post(blocked ? wire::MsgType::kBlocked : wire::MsgType::kUnblocked, {});
  if (blocked && !v_.dispatch.empty()) ring_doorbell();  // queued work could use our CPU: the driver may add a worker
}

std::uint32_t WorkerRuntime::take_supply(std::vector<std::uint32_t>& from, bool tasks) {
  std::uint64_t deadline = 0;  // set at the first miss: waiting starts there
  for (;;) {
    drain_control();
    {
      std::lock_guard lock(mu_);
      if (!from.empty()) {
        const std::uint32_t v = from.back();
        from.pop_back();
        return v;
      }
    }
    // Out of slots: ask the driver, and meanwhile run our own queued children (safe: none of
    // them waits for the task that submitted it to return).
    if (!stack_.empty() && run_own_child()) continue;
    throw_if_cancelled();
    const std::uint64_t now = shm::now_ns();
    // At least one round trip to the driver (it refills supplies as it pumps), even with a
    // zero store_full_timeout: running out of a supply is routine, a full table is not.
    const std::uint64_t timeout = std::max<std::uint64_t>(v_.header->store_full_timeout_ns, kMinSupplyWaitNs);
    if (!deadline) deadline = now + std::min(timeout, ~std::uint64_t{0} - now);
    if (now >= deadline) {
      if (tasks) common::throw_task_table_full(v_.task_capacity, timeout);
      common::throw_object_table_full(v_.object_capacity, timeout);
    }
    const std::uint32_t seen = shm::atom(ctl_.wake).load(std::memory_order_seq_cst);
    shm::atom(ctl_.wants_supply).store(1, std::memory_order_seq_cst);
    ring_doorbell();
    // Bounded: the driver wakes us when it supplies; the bound is for cancel and the deadline.
    if (control_.empty())
      shm::futex_wait(&ctl_.wake, seen, std::chrono::nanoseconds(std::min<std::uint64_t>(deadline - now, 100'000'000)));
    shm::atom(ctl_.wants_supply).store(0, std::memory_order_relaxed);
  }
}

ObjectId WorkerRuntime::submit(const detail::SubmitRequest& req) {
  throw_if_cancelled();
  const detail::FunctionInfo* fn = detail::function_at(req.function);
  if (!fn) throw UnregisteredFunctionError("shmray: unknown function index " + std::to_string(req.function));
  const TaskOptions& opt = *req.options;
  const std::uint32_t cpus = common::checked_cpus(opt);
  // Checked once here: the counts and sizes cast to 32 bits below all fit after this.
  const std::size_t desc_size = common::checked_descriptor_size(req.resolve.size(), req.args.size(),
                                                                v_.header->arena_bytes, fn->name);
  std::uint64_t spill = 0;
  if (desc_size > sizeof(shm::TaskSlot::inline_args)) spill = allocate_block_waiting(desc_size);
  std::uint32_t obj = 0, idx = 0;
  try {
    obj = take_supply(object_supply_, false);
    try {
      idx = take_supply(task_supply_, true);
    } catch (...) {
      std::lock_guard lock(mu_);
      object_supply_.push_back(obj);  // unused: keep it for the next call
      throw;
    }
  } catch (...) {
    if (spill) free_block(spill);
    throw;
  }
  const ObjectId result = ObjectId::make(v_.session, v_.word(v_.objects[obj]).gen, obj);

  shm::TaskSlot& slot = v_.tasks[idx];
  const std::uint32_t gen = shm::TaskWord::unpack(shm::load_acquire(slot.state)).gen;
  std::byte* out = spill ? v_.base + spill : slot.inline_args;
  wire::write_descriptor(out, req.resolve, req.args);
  slot.result = result.value;
  slot.function = req.function;
  slot.args_size = static_cast<std::uint32_t>(desc_size);
  slot.args_off = spill;
  slot.attempt = 0;
  slot.num_cpus_centi = cpus * 100;
  const std::uint64_t parent = stack_.empty() ? 0 : stack_.back().task_ref;
  slot.parent = parent;
  slot.max_retries = opt.max_retries;
  slot.task_flags = opt.retry_exceptions ? shm::kTaskRetryExceptions : 0;
  const std::uint64_t ref = shm::task_ref(idx, gen);
  shm::store_release(v_.objects[obj].producer, ref);
  // Queued now when every argument is ready (and it needs no more than one CPU: holds are
  // the driver's); else the driver queues it.
  bool ready = cpus == 1;
  for (ObjectId dep : req.resolve) {
    const shm::ObjectSlot* d = v_.slot(dep);
    ready = ready && d && v_.word(*d).is(shm::ObjectState::kReady);
  }
  shm::store_release(slot.state, shm::TaskWord{gen, ready ? shm::TaskState::kQueued : shm::TaskState::kWaiting, 0, 0}.pack());

  wire::SubmitHeader h{ref,
                       result.value,
                       parent,
                       static_cast<std::uint32_t>(req.resolve.size()),
                       static_cast<std::uint32_t>(req.contained.size()),
                       opt.max_retries,
                       cpus,
                       opt.retry_exceptions ? 1u : 0u,
                       static_cast<std::uint32_t>(opt.name.size())};
  std::string body;
  body.reserve(sizeof h + 8 * (req.resolve.size() + req.contained.size()) + opt.name.size());
  body.append(reinterpret_cast<const char*>(&h), sizeof h);
  body.append(reinterpret_cast<const char*>(req.resolve.data()), 8 * req.resolve.size());
  body.append(reinterpret_cast<const char*>(req.contained.data()), 8 * req.contained.size());
  body.append(opt.name);
  post(wire::MsgType::kSubmit, std::as_bytes(std::span(body.data(), body.size())));
  if (ready) own_children_.push_back(ref);
  // Idle workers can only see it once the driver has processed it: tell the driver now.
  if (!ready || v_.spinning.any() || v_.sleeping.any())
    ring_doorbell();
  return result;
}

ObjectId WorkerRuntime::put(const detail::ValueSource& value) {
  throw_if_cancelled();
  if (value.contained.size() > UINT32_MAX)  // PutHeader::contained
    throw ObjectStoreFullError("shmray::put: a value holding more than 2^32 - 1 ObjectRefs; put fewer refs");
  std::uint64_t off = 0;
  if (value.size > shm::kInlineBytes) {
    off = allocate_block_waiting(value.size);
    try {
      value.write(value.ctx, {v_.base + off, value.size});
    } catch (...) {
      free_block(off);
      throw;
    }
  }
  return publish_put(off, value.size, off ? nullptr : &value, value.contained);
}

ObjectId WorkerRuntime::put_block(const detail::ValueBlock& block) {
  throw_if_cancelled();
  if (!v_.arena_bytes(block.offset, block.size)) throw std::invalid_argument("shmray::put: not a block of this store");
  return publish_put(block.offset, block.size, nullptr, {});
}

// Makes a ready object in a supplied slot and reports it: the payload at `offset`, or
// written inline by `inline_value`.
ObjectId WorkerRuntime::publish_put(std::uint64_t offset, std::size_t size, const detail::ValueSource* inline_value,
                                    std::span<const ObjectId> contained) {
  std::uint32_t obj = 0;
  try {
    obj = take_supply(object_supply_, false);
  } catch (...) {
    if (offset) free_block(offset);  // the value's block is ours to give back, as on every failure here
    throw;
  }
  shm::ObjectSlot& s = v_.objects[obj];
  const ObjectId id = ObjectId::make(v_.session, v_.word(s).gen, obj);
  if (offset) {
    s.data = offset;
  } else if (inline_value && size) {
    try {
      inline_value->write(inline_value->ctx, {s.inline_data, size});
    } catch (...) {
      std::lock_guard lock(mu_);
      object_supply_.push_back(obj);  // unused after all: keep it for the next put
      throw;
    }
  }
  s.size = size;
  if (shm::begin_object_write(s, id.gen())) shm::finish_object_write(s, shm::ObjectState::kReady);
  wire::PutHeader h{id.value, static_cast<std::uint32_t>(contained.size()), 0};
  post(wire::MsgType::kPut, std::as_bytes(std::span(&h, 1)), std::as_bytes(contained));
  return id;
}

std::uint64_t WorkerRuntime::allocate_block(std::size_t bytes, void** at) {
  const std::uint64_t off = allocate_block_waiting(bytes);
  *at = v_.base + off;
  return off;
}

void WorkerRuntime::free_block(std::uint64_t offset) noexcept {
  std::lock_guard lock(mu_);
  heap_.free(offset);
}

std::span<const std::byte> WorkerRuntime::fetch(ObjectId id, detail::Deadline until) {
  const ObjectId one[] = {id};
  InlineHelper helper(*this, one);
  return common::fetch_object(v_, id, until, helper);
}

std::size_t WorkerRuntime::wait(std::span<const ObjectId> ids, std::size_t num_returns, detail::Deadline until,
                                std::vector<char>& ready) {
  common::check_wait_arguments(ids, num_returns);
  InlineHelper helper(*this, ids);
  return common::wait_many(v_, ids, num_returns, until, helper, ready);
}

void WorkerRuntime::add_ref(ObjectId id) {
  if (!v_.live(id)) common::throw_not_live(id);  // the driver's own test: it ignores what fails it
  const std::uint64_t raw = id.value;
  post(wire::MsgType::kHold, std::as_bytes(std::span(&raw, 1)));
}

void WorkerRuntime::release(ObjectId id) noexcept {
  std::lock_guard lock(mu_);
  releases_.push_back(id.value);
  if (releases_.size() >= 4096 && stack_.empty()) flush_releases_locked();
}



void note_fork_in_task() noexcept { g_forked_child = true; }

void WorkerRuntime::leave_if_forked() const {
  // A task forked and its child came back here: it is not this worker and must not claim
  // tasks or post to our rings. It leaves; the real worker goes on.
  if (g_forked_child) ::_exit(0);
}

bool WorkerRuntime::task_cancelled(const Running& r) const {
  const shm::TaskWord tw = shm::TaskWord::unpack(shm::load_acquire(v_.task(r.task_ref).state));
  // The flag, or the slot is no longer ours (the driver finished it after a cancel).
  return (tw.flags & shm::kTaskCancelRequested) != 0 || tw.gen != shm::task_ref_gen(r.task_ref) ||
         tw.state != shm::TaskState::kClaimed || tw.owner != task_owner_;
}

bool WorkerRuntime::cancelled() { return !stack_.empty() && task_cancelled(stack_.back()); }

void WorkerRuntime::throw_if_cancelled() {
  if (cancelled())
    throw TaskCancelledError("shmray: this task was cancelled (the call was refused so the task can end)");
}

void WorkerRuntime::cancel(ObjectId id, const CancelOptions& options) {
  const shm::ObjectSlot* s = v_.live(id);
  if (!s) common::throw_not_live(id);
  const wire::CancelRequest c{id.value, options.force ? 1u : 0u, options.recursive ? 1u : 0u};
  post(wire::MsgType::kCancel, std::as_bytes(std::span(&c, 1)));
  ring_doorbell();
  // The driver decides; give it a moment so a get() right after sees the cancellation.
  const std::uint64_t until = shm::now_ns() + 100'000'000;
  while (shm::now_ns() < until && !v_.word(*s).final()) shm::cpu_relax();
}
}  // namespace shmray::worker
