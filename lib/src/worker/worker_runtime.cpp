#include "worker/worker_runtime.hpp"

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
#include "common/payload_write.hpp"
#include "common/store_space.hpp"
#include "common/task_slot.hpp"
#include "shm/futex.hpp"
#include "shmray/detail/invoke.hpp"
#include "shmray/detail/registry.hpp"
#include "shmray/errors.hpp"
#include "wire/control.hpp"
#include "wire/descriptor.hpp"
#include "wire/error_record.hpp"
#include "wire/fork_protocol.hpp"

namespace shmray::worker {

namespace {

bool g_forked_child = false;  // set in a child a task forked (pthread_atfork); read without a syscall
thread_local bool t_task_thread = false;  // this thread runs tasks (run()); others were started by a task

[[noreturn]] void refuse_forked() {
  throw ForkedProcessError(
      "shmray: this process was forked inside a task; a forked child owns no pool and must not use the "
      "runtime: use the API in the task's own process, or exec (or _exit) in the child");
}

// An idle worker spins this long before it sleeps on a futex. Waking a sleeping worker costs
// ~35 us on a 2-vCPU machine; a 50 us spin keeps a dispatch round trip at ~0.3 us (as pure
// spinning), while a 2 us spin gives 7-9 us: one sleep makes the next wake late too.
constexpr std::uint64_t kIdleSpinNs = 50'000;
constexpr std::uint32_t kMaxIdleSpinners = 1;  // more spinners would take the CPUs busy processes need
constexpr std::int64_t kExtraIdleNs = 1'000'000'000;  // an extra worker idle this long exits
constexpr std::int64_t kTrimIdleNs = 1'000'000'000;   // a worker idle this long returns freed memory

constexpr std::uint64_t kKillWaitNs = 2'000'000'000;      // leave_bottom_task: longest wait for a pending kill
constexpr std::uint64_t kNoInlineGraceNs = 2'000'000'000;  // InlineHelper: a kTaskNoInline run inlines after all
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
  r.type_name = t ? demangle(t->name()) : "unknown exception";
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
    r.message = e.what();  // unprefixed: it passes up whole chains of tasks, each would add one
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
    if (w.is(shm::ObjectState::kFailed)) throw ArgumentFailed{std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size())};
    return bytes;
  }
  void set_result(const detail::ValueSource& value) override { rt_.publish_result(r_, value); }
  void set_result_block(const detail::ValueBlock& block) override { rt_.publish_block(r_, block.offset, block.size); }
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

WorkerRuntime::WorkerRuntime(const shm::Segment& seg, std::uint32_t slot)
    : v_(seg),
      ctl_(seg.worker(slot)),
      slot_(slot),
      task_owner_(static_cast<std::uint16_t>(slot + 1)),
      heap_(v_.spans, shm::owner_of_worker(slot)),
      events_(&ctl_.events, seg.event_buffer(slot), v_.geo.event_ring_bytes),
      control_(&ctl_.control, seg.control_entries(slot), v_.geo.control_ring_entries) {
  releases_.reserve(256);
}

void WorkerRuntime::run() {
  t_task_thread = true;
  for (;;) run_task(next_task());
}

std::uint64_t WorkerRuntime::next_task() {
  leave_if_forked();  // never claim from a copy of this worker
  for (;;) {
    drain_control();
    if (auto ref = v_.dispatch.claim(task_owner_)) return *ref;
    // Spin a while (one idle worker at a time), then sleep on our own wake word.
    // The end of the spin is published before the bit: a submitter that sees the bit past
    // that time (we were stopped or descheduled) wakes a sleeper instead of counting on us.
    const std::uint64_t until = shm::now_ns() + kIdleSpinNs;
    shm::store_relaxed(ctl_.spin_until_ns, until);
    v_.spinning.set(slot_);
    if (v_.spinning.count() <= kMaxIdleSpinners) {
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
  shm::HotWords& h = *v_.hot;
  if (released && shm::atom(h.arena_epoch.aux).load(std::memory_order_seq_cst) != 0)
    shm::futex_bump_and_wake_all(&h.arena_epoch.value);  // someone waits for store space
}

bool WorkerRuntime::drain_control_locked() {
  bool released = false;
  while (auto e = control_.try_pop()) {
    const std::uint64_t kind = *e & ~wire::kControlPayload, payload = *e & wire::kControlPayload;
    if (kind == wire::kControlFree) {
      released |= heap_.free(payload);
    } else if (kind == wire::kControlObject && payload < v_.object_capacity) {
      object_supply_.push_back(static_cast<std::uint32_t>(payload));
    } else if (kind == wire::kControlTask && payload < v_.task_capacity) {
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
  r.no_inline = (slot.task_flags & shm::kTaskNoInline) != 0;
  stack_.push_back(r);
  if (stack_.size() == 1) {  // force cancel may kill only this one (the handshake in cancel.cpp: seq_cst)
    bottom_.store(task_ref, std::memory_order_release);
    shm::atom(ctl_.bottom_task).store(task_ref, std::memory_order_seq_cst);
  }
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
    if (slot.num_cpus_centi > 100 && !wait_for_holds(r)) {  // num_cpus > 1: all its CPUs first
      failed = true;
      error = wire::encode(wire::ErrorRecord{wire::ErrorKind::kCancelled, "", "shmray: " + fname + " was cancelled",
                                             fname, ::getpid(), parsed ? std::string(parsed->name) : std::string(), {}});
    } else if (!parsed || !fn) {
      failed = true;
      wire::ErrorRecord e{wire::ErrorKind::kSerialization, "",
                          !fn ? "shmray: task names an unknown function" : "shmray: corrupt task descriptor for " + fname,
                          fname, ::getpid(), parsed ? std::string(parsed->name) : std::string(), {}};
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
          error = wire::encode(describe_current_exception(fname, parsed->name));
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
  ctl_.depth = static_cast<std::uint32_t>(stack_.size());
  shm::store_relaxed(ctl_.current_task, stack_.empty() ? 0 : stack_.back().task_ref);
  shm::store_relaxed(ctl_.state, std::uint32_t(stack_.empty() ? shm::WorkerState::kIdle : shm::WorkerState::kRunning));
  ++ctl_.tasks_run;
  trimmed_ = false;
  if (stack_.empty()) leave_bottom_task();
}

// The worker's half of the force-cancel handshake (the driver's half and the argument are
// in cancel.cpp). We clear bottom_task, then read kill_pending; if a kill is pending it may
// be on its way for the task we just left, so we claim nothing until the driver withdraws
// it (it does so within the same locked call) or the kill lands. Should the driver stall
// right there for 2 s (stopped in a debugger), we exit instead: the task is finished and
// reported, the driver replaces us, and no task claimed later can be hit.
void WorkerRuntime::leave_bottom_task() {
  bottom_.store(0, std::memory_order_release);
  shm::atom(ctl_.bottom_task).store(std::uint64_t{0}, std::memory_order_seq_cst);
  if (shm::atom(ctl_.kill_pending).load(std::memory_order_seq_cst) == 0) return;
  const std::uint64_t until = shm::now_ns() + kKillWaitNs;
  for (;;) {
    const std::uint32_t seen = shm::atom(ctl_.wake).load(std::memory_order_seq_cst);
    if (shm::atom(ctl_.kill_pending).load(std::memory_order_seq_cst) == 0) return;
    if (shm::now_ns() >= until) ::_exit(wire::kExitKillWait);
    shm::futex_wait(&ctl_.wake, seen, std::chrono::milliseconds(10));  // the driver bumps wake when it withdraws
  }
}

void WorkerRuntime::run_hold(const Running& r) {
  // One more of the main task's CPUs is held: count it down (the main starts its body at
  // zero). The word names the main's generation, so a recycled slot is never counted.
  const std::uint64_t main = v_.task(r.task_ref).parent;
  if (v_.valid_task_ref(main)) {
    shm::TaskSlot& ms = v_.task(main);
    std::uint64_t w = shm::load_acquire(ms.holds);
    while (std::uint32_t(w >> 32) == shm::task_ref_gen(main) && std::int32_t(std::uint32_t(w)) > 0) {
      if (shm::atom(ms.holds).compare_exchange_weak(w, w - 1, std::memory_order_acq_rel)) {
        shm::futex_wake(reinterpret_cast<std::uint32_t*>(&ms.holds), 1);
        break;
      }
    }
  }
  // Keep this worker (one CPU slot) busy until the main task's result is final or gone.
  NoHelpWait helper;
  shm::ObjectWord w;
  common::wait_final(v_, r.result, detail::Deadline::never(), helper, w);
}

bool WorkerRuntime::wait_for_holds(const Running& r) {
  shm::TaskSlot& slot = v_.task(r.task_ref);
  const std::uint32_t gen = shm::task_ref_gen(r.task_ref);
  auto* futex = reinterpret_cast<std::uint32_t*>(&slot.holds);  // the low half (little-endian)
  // Run inline on top of a task that waits for it, it uses that task's CPU: let the driver
  // start a worker for its holds meanwhile, as for any blocked worker. Else it just waits.
  const bool on_a_waiting_task = stack_.size() > 1;
  const std::uint64_t spin_until = shm::now_ns() + common::kSpinNs;
  bool ok = true;
  for (;;) {
    const std::uint64_t w = shm::load_acquire(slot.holds);
    if (std::uint32_t(w >> 32) != gen || std::int32_t(std::uint32_t(w)) <= 0) break;
    if (task_cancelled(r)) {
      ok = false;
      break;
    }
    if (shm::now_ns() < spin_until) {
      shm::cpu_relax();
      continue;
    }
    if (on_a_waiting_task) set_blocked(true);
    shm::futex_wait(futex, std::uint32_t(w), std::chrono::milliseconds(100));  // 100 ms: a cancel check
  }
  if (on_a_waiting_task) set_blocked(false);
  return ok;
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
  if (common::write_payload(v_, r.result, shm::ObjectState::kFailed, std::as_bytes(std::span(payload.data(), payload.size())),
                            allocate, &flags))
    result_flags_ = flags;
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
  const std::uint32_t flags = shm::load_relaxed(v_.shared->driver_flags.value);
  if ((flags & shm::kFlagBacklog) && v_.dispatch.size() < v_.task_capacity / 4) wake_driver = true;
  result_flags_ = 0;
  if (wake_driver) ring_doorbell();
}

void WorkerRuntime::post(wire::MsgType type, std::span<const std::byte> a, std::span<const std::byte> b) {
  if (g_forked_child) refuse_forked();  // a second producer would corrupt the ring
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
//
// Only the task thread runs anything inline, and only in a wait without a deadline: a
// producer run inline could not be left at the deadline (get(ref, 100ms) would take as long
// as the producer). A finite wait leaves the producer to other workers (a blocked worker
// may get an extra one) and a wait with timeout 0 is a pure poll. Threads a task started
// wait without helping and without reporting the worker blocked (its task thread may be
// running), but check the cancellation of the task they belong to.
class WorkerRuntime::InlineHelper final : public common::WaitHelper {
 public:
  InlineHelper(WorkerRuntime& rt, std::span<const ObjectId> ids, detail::Deadline until)
      : rt_(rt),
        ids_(ids),
        task_thread_(t_task_thread && !rt.stack_.empty()),
        in_task_(rt.own_task() != 0),
        finite_(!until.is_never()),
        since_(shm::now_ns()) {}
  ~InlineHelper() {  // noexcept: a destructor must not throw
    if (task_thread_) rt_.set_blocked(false);
    if (counted_) rt_.thread_waits(false);
  }
  bool help() override {
    if (!in_task_) return false;  // not inside a task: just wait
    rt_.throw_if_cancelled();
    if (!may_inline()) return false;
    for (ObjectId id : ids_)
      if (rt_.try_run_producer(id, 0)) return true;
    return false;
  }
  std::int64_t before_sleep() override {
    if (task_thread_) {
      rt_.set_blocked(true);
    } else if (in_task_ && !counted_) {
      counted_ = true;
      rt_.thread_waits(true);
    }
    return 100'000'000;  // a safety net only: queueing a task we wait on bumps object_epoch
  }

 private:
  // A run flagged kTaskNoInline (a task inline above it crashed the worker: see
  // handle_exit_locked) leaves its children to other workers. If one is still queued after
  // kNoInlineGraceNs (no worker could be started: max_workers reached), it runs it after
  // all: progress first. A crash then is charged to it too, so retries stay bounded.
  bool may_inline() const {
    if (!task_thread_ || finite_) return false;
    return !rt_.stack_.back().no_inline || shm::now_ns() - since_ >= kNoInlineGraceNs;
  }

  WorkerRuntime& rt_;
  std::span<const ObjectId> ids_;
  const bool task_thread_, in_task_, finite_;
  const std::uint64_t since_;
  bool counted_ = false;  // in waiting_threads_ (a thread the task started, asleep)
};

bool WorkerRuntime::try_run_producer(ObjectId id, int depth) {
  if (g_forked_child) refuse_forked();  // a claim from a copy of this worker would be lost with it
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
  if (g_forked_child) refuse_forked();
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

void WorkerRuntime::set_blocked(bool blocked) noexcept {
  {
    std::lock_guard lock(blocked_mu_);
    if (blocked == task_blocked_) return;
    task_blocked_ = blocked;
  }
  shm::store_relaxed(ctl_.state, std::uint32_t(blocked ? shm::WorkerState::kBlocked : shm::WorkerState::kRunning));
  report_blocked();
}

// A thread the task started sleeps in get/wait (or stops). Its task thread may be joining
// it, outside the API: the worker must then count as blocked too, or with every CPU slot
// taken no worker would ever run what the thread waits for.
void WorkerRuntime::thread_waits(bool waits) noexcept {
  {
    std::lock_guard lock(blocked_mu_);
    waiting_threads_ += waits ? 1 : -1;
  }
  report_blocked();
}

// Tells the driver whether the worker is blocked: its task thread, or any thread of its
// task, sleeps waiting for an object. Under blocked_mu_ so that reports arrive in the order
// of the state changes (post takes mu_ inside: the order is always blocked_mu_, then mu_).
void WorkerRuntime::report_blocked() noexcept {
  std::lock_guard lock(blocked_mu_);
  const bool blocked = task_blocked_ || waiting_threads_ > 0;
  if (blocked == blocked_reported_) return;
  blocked_reported_ = blocked;
  try {
    post(blocked ? wire::MsgType::kBlocked : wire::MsgType::kUnblocked, {});
  } catch (...) {
    // post refuses only in a process a task forked, which reports nothing; ~InlineHelper
    // calls this, so it must not throw.
  }
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
    if (t_task_thread && !stack_.empty() && !stack_.back().no_inline && run_own_child()) continue;
    throw_if_cancelled();
    const std::uint64_t now = shm::now_ns();
    // At least one round trip to the driver (it refills supplies as it pumps), even with a
    // zero store_full_timeout: running out of a supply is routine, a full table is not.
    const std::uint64_t timeout = std::max<std::uint64_t>(v_.geo.store_full_timeout_ns, kMinSupplyWaitNs);
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
  const std::size_t desc_size = common::checked_descriptor_size(req.resolve.size(), req.args.size(), opt.name,
                                                                v_.geo.arena_bytes, fn->name);
  // As the driver's submit: a ref to no live object is refused here, not passed on.
  common::check_all_live(v_, req.resolve);
  common::check_all_live(v_, req.contained);
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
  wire::write_descriptor(out, req.resolve, req.args, opt.name);
  const std::uint64_t parent = own_task();  // a thread the task started submits for its task
  common::fill_task_slot(slot, {.result = result.value,
                                .function = req.function,
                                .args_size = static_cast<std::uint32_t>(desc_size),
                                .args_off = spill,
                                .cpus = cpus,
                                .parent = parent,
                                .max_retries = opt.max_retries,
                                .retry_exceptions = opt.retry_exceptions});
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
  if (ready && t_task_thread) own_children_.push_back(ref);
  // Idle workers can only see it once the driver has processed it: tell the driver now.
  if (!ready || v_.spinning.any() || v_.sleeping.any())
    ring_doorbell();
  return result;
}

ObjectId WorkerRuntime::put(const detail::ValueSource& value) {
  throw_if_cancelled();
  if (value.contained.size() > UINT32_MAX)  // PutHeader::contained
    throw ObjectStoreFullError("shmray::put: a value holding more than 2^32 - 1 ObjectRefs; put fewer refs");
  common::check_all_live(v_, value.contained);  // as the driver's put
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
    common::place_block(s, offset, size);
  } else if (inline_value && size) {
    try {
      inline_value->write(inline_value->ctx, {s.inline_data, size});
    } catch (...) {
      std::lock_guard lock(mu_);
      object_supply_.push_back(obj);  // unused after all: keep it for the next put
      throw;
    }
  }
  s.size = size;  // inline: written in place above (the slot is ours alone until we report it)
  if (shm::ObjectSlot* w = common::begin_payload(v_, id)) common::finish_payload(v_, *w, shm::ObjectState::kReady);
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
  if (g_forked_child) return;
  std::lock_guard lock(mu_);
  heap_.free(offset);
}

std::span<const std::byte> WorkerRuntime::fetch(ObjectId id, detail::Deadline until) {
  const ObjectId one[] = {id};
  InlineHelper helper(*this, one, until);
  return common::fetch_object(v_, id, until, helper);
}

std::size_t WorkerRuntime::wait(std::span<const ObjectId> ids, std::size_t num_returns, detail::Deadline until,
                                std::vector<char>& ready) {
  common::check_wait_arguments(ids, num_returns);
  InlineHelper helper(*this, ids, until);
  return common::wait_many(v_, ids, num_returns, until, helper, ready);
}

std::size_t WorkerRuntime::wait_all_or_failure(std::span<const ObjectId> ids, detail::Deadline until) {
  InlineHelper helper(*this, ids, until);
  std::vector<char> ready;
  std::size_t failed = ids.size();
  common::wait_many(v_, ids, ids.size(), until, helper, ready, &failed);
  return failed;
}

void WorkerRuntime::add_ref(ObjectId id) {
  common::check_live(v_, id);  // the driver's own test: it ignores what fails it
  const std::uint64_t raw = id.value;
  post(wire::MsgType::kHold, std::as_bytes(std::span(&raw, 1)));
}

void WorkerRuntime::release(ObjectId id) noexcept {
  if (g_forked_child) return;  // a forked child's refs are copies: the worker's own stand
  std::lock_guard lock(mu_);
  releases_.push_back(id.value);
  if (releases_.size() >= 4096 && bottom_.load(std::memory_order_relaxed) == 0) flush_releases_locked();
}



void note_fork_in_task() noexcept { g_forked_child = true; }

void WorkerRuntime::leave_if_forked() const {
  // A task forked and its child came back here: it is not this worker and must not claim
  // tasks or post to our rings. It leaves; the real worker goes on.
  if (g_forked_child) ::_exit(0);
}

bool WorkerRuntime::task_cancelled(std::uint64_t task_ref) const {
  const shm::TaskWord tw = shm::TaskWord::unpack(shm::load_acquire(v_.task(task_ref).state));
  // The flag, or the slot is no longer ours (the driver finished it after a cancel).
  return (tw.flags & shm::kTaskCancelRequested) != 0 || tw.gen != shm::task_ref_gen(task_ref) ||
         tw.state != shm::TaskState::kClaimed || tw.owner != task_owner_;
}

// The task the calling thread works for: the innermost one on the task thread, the
// outermost one (bottom_) on a thread a task started; 0 outside any task.
std::uint64_t WorkerRuntime::own_task() const noexcept {
  if (t_task_thread) return stack_.empty() ? 0 : stack_.back().task_ref;
  return bottom_.load(std::memory_order_acquire);
}

bool WorkerRuntime::cancelled() {
  const std::uint64_t ref = own_task();
  return ref != 0 && task_cancelled(ref);
}

void WorkerRuntime::throw_if_cancelled() {
  if (cancelled())
    throw TaskCancelledError("shmray: this task was cancelled (the call was refused so the task can end)");
}

void WorkerRuntime::cancel(ObjectId id, const CancelOptions& options) {
  const shm::ObjectSlot* s = &common::check_live(v_, id);
  const wire::CancelRequest c{id.value, options.force ? 1u : 0u, options.recursive ? 1u : 0u};
  post(wire::MsgType::kCancel, std::as_bytes(std::span(&c, 1)));
  ring_doorbell();
  // The driver decides; give it a moment so a get() right after sees the cancellation.
  const std::uint64_t until = shm::now_ns() + 100'000'000;
  while (shm::now_ns() < until && !v_.word(*s).final()) shm::cpu_relax();
}
}  // namespace shmray::worker
