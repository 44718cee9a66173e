// The API a task calls (detail::RuntimeApi inside a worker): submit, put, get, wait,
// cancel, references, blocks. Slots for the objects and tasks it makes come from supplies
// the driver hands this worker.
#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <thread>

#include "common/checks.hpp"
#include "common/completion_watch.hpp"
#include "common/object_wait.hpp"
#include "common/payload_write.hpp"
#include "common/task_slot.hpp"
#include "shm/futex.hpp"
#include "shmray/detail/registry.hpp"
#include "shmray/errors.hpp"
#include "wire/descriptor.hpp"
#include "worker/inline_helper.hpp"
#include "worker/runtime_internal.hpp"
#include "worker/worker_runtime.hpp"

namespace shmray::worker {

namespace {
constexpr std::uint64_t kMinSupplyWaitNs = 200'000'000;  // the driver's housekeeping period

}  // namespace

using internal::g_forked_child;
using internal::t_task_thread;

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
  if (!fn || fn->kind != detail::FunctionKind::kFunction)
    throw UnregisteredFunctionError("shmray: unknown function index " + std::to_string(req.function));
  const TaskOptions& opt = *req.options;
  const std::uint32_t cpus = common::checked_cpus(opt);
  const Written w = write_task(req, fn->name, cpus, false);
  shm::TaskSlot& slot = v_.task(w.ref);
  // Queued now when every argument is ready (and it needs no more than one CPU: holds are
  // the driver's); else the driver queues it.
  bool ready = cpus == 1;
  for (ObjectId dep : req.resolve) {
    const shm::ObjectSlot* d = v_.slot(dep);
    ready = ready && d && v_.word(*d).is(shm::ObjectState::kReady);
  }
  shm::store_release(
      slot.state,
      shm::TaskWord{shm::task_ref_gen(w.ref), ready ? shm::TaskState::kQueued : shm::TaskState::kWaiting, 0, 0}.pack());
  const std::uint64_t now = shm::now_ns();
  // Only the task thread writes the ring (it has one writer; a process a task forked is a
  // second one, and post_task refuses it below); only it runs a child inline.
  if (timeline_.on() && t_task_thread && !g_forked_child) [[unlikely]]
    record(w.ref, now, shm::TimelineKind::kSubmit, 0);
  const wire::SubmitHeader h{w.ref,
                             w.result.value,
                             w.parent,
                             static_cast<std::uint32_t>(req.resolve.size()),
                             static_cast<std::uint32_t>(req.contained.size()),
                             opt.max_retries,
                             cpus,
                             opt.retry_exceptions ? 1u : 0u,
                             static_cast<std::uint32_t>(opt.name.size()),
                             common::task_deadline_ns(opt),
                             now};
  const std::string_view texts[] = {opt.name};
  post_task(wire::MsgType::kSubmit, std::as_bytes(std::span(&h, 1)), req, texts);
  if (ready && t_task_thread && !opt.timeout) own_children_.push_back(w.ref);  // kTaskKillable: never inline
  // Idle workers can only see it once the driver has processed it: tell the driver now.
  if (!ready || v_.spinning.any() || v_.sleeping.any()) ring_doorbell();
  return w.result;
}

WorkerRuntime::Written WorkerRuntime::write_task(const detail::SubmitRequest& req, const std::string& function,
                                                 std::uint32_t cpus, bool actor) {
  const TaskOptions& opt = *req.options;
  // Checked once here: the counts and sizes cast to 32 bits below all fit after this.
  const std::size_t args = req.args_source ? req.args_source->size : req.args.size();
  const std::size_t desc_size =
      common::checked_descriptor_size(req.resolve.size(), args, opt.name, v_.geo.arena_bytes, function);
  // As the driver's submit: a ref to no live object is refused here, not passed on.
  common::check_all_live(v_, req.resolve);
  common::check_all_live(v_, req.contained);
  std::uint64_t spill = 0;
  std::uint32_t obj = 0, idx = 0;
  take_submit_slots(desc_size, req.args_source, spill, obj, idx);
  Written w;
  w.result = ObjectId::make(v_.session, v_.word(v_.objects[obj]).gen, obj);
  shm::TaskSlot& slot = v_.tasks[idx];
  const std::uint32_t gen = shm::TaskWord::unpack(shm::load_acquire(slot.state)).gen;
  std::byte* out = spill ? v_.base + spill : slot.inline_args;
  wire::write_descriptor(out, req.resolve, req.args, opt.name);  // from args_source: the head only
  w.parent = own_task();                                         // a thread the task started submits for its task
  common::fill_task_slot(slot, {.result = w.result.value,
                                .function = req.function,
                                .args_size = static_cast<std::uint32_t>(desc_size),
                                .args_off = spill,
                                .cpus = cpus,
                                .parent = w.parent,
                                .max_retries = opt.max_retries,
                                .retry_exceptions = opt.retry_exceptions,
                                .actor = actor,
                                .killable = opt.timeout.has_value()});
  w.ref = shm::task_ref(idx, gen);
  shm::store_release(v_.objects[obj].producer, w.ref);
  return w;
}

// The block for a spilled descriptor (desc_size larger than a slot holds, or arguments from
// `args`, written at its end here: once, where the task reads them), an object slot and a
// task slot; on failure whatever was taken is given back.
void WorkerRuntime::take_submit_slots(std::size_t desc_size, const detail::ValueSource* args, std::uint64_t& spill,
                                      std::uint32_t& obj, std::uint32_t& idx) {
  if (args || desc_size > sizeof(shm::TaskSlot::inline_args)) spill = allocate_block_waiting(desc_size);
  try {
    if (args) args->write(args->ctx, {v_.base + spill + (desc_size - args->size), args->size});
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
}

// Tells the driver of a task written into supplied slots: the header, then the resolved
// and contained ids and the texts (names).
void WorkerRuntime::post_task(wire::MsgType type, std::span<const std::byte> header, const detail::SubmitRequest& req,
                              std::span<const std::string_view> texts) {
  static_assert(sizeof(ObjectId) == 8, "ids go on the wire as 8 bytes each");
  // Gathered straight into the ring: no staging copy (an allocation) per submit.
  std::span<const std::byte> parts[5] = {header, std::as_bytes(req.resolve), std::as_bytes(req.contained)};
  std::size_t n = 3;
  for (std::string_view t : texts.first(std::min<std::size_t>(texts.size(), 2)))
    parts[n++] = std::as_bytes(std::span(t.data(), t.size()));
  post_parts(type, std::span(parts, n));
}

ObjectId WorkerRuntime::put(const detail::ValueSource& value) {
  throw_if_cancelled();
  if (value.contained.size() > UINT32_MAX)  // PutHeader::contained
    throw ObjectStoreFullError("shmray::put: a value holding more than 2^32 - 1 ObjectRefs; put fewer refs");
  common::check_all_live(v_, value.contained);  // as the driver's put
  const std::uint64_t off = common::write_value_block(
      v_, value, [&](std::size_t n) { return allocate_block_waiting(n); }, [&](std::uint64_t o) { free_block(o); });
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
  InlineHelper helper(*this, one, until, 1);
  return common::fetch_object(v_, id, until, helper);
}

std::size_t WorkerRuntime::wait(std::span<const ObjectId> ids, std::size_t num_returns, detail::Deadline until,
                                std::vector<char>& ready) {
  common::check_wait_arguments(ids, num_returns);
  InlineHelper helper(*this, ids, until, num_returns);
  return common::wait_many(v_, ids, num_returns, until, helper, ready);
}

std::size_t WorkerRuntime::wait_all_or_failure(std::span<const ObjectId> ids, detail::Deadline until) {
  InlineHelper helper(*this, ids, until, ids.size());
  std::vector<char> ready;
  std::size_t failed = ids.size();
  common::wait_many(v_, ids, ids.size(), until, helper, ready, &failed);
  return failed;
}

std::size_t WorkerRuntime::collect_final(std::span<const ObjectId> ids, detail::Deadline until,
                                         std::vector<std::uint32_t>& final) {
  InlineHelper helper(*this, ids, until, ids.empty() ? 0 : 1);
  return common::wait_any(v_, ids, until, helper, final);
}

std::size_t WorkerRuntime::collect_completed(detail::WatchState& watch, detail::Deadline until,
                                             std::vector<std::uint32_t>& found) {
  // The helper walks the ids open at the call: a call ends at the first it finds.
  const std::span<const ObjectId> open = watch.keep_open_ids();
  InlineHelper helper(*this, open, until, open.empty() ? 0 : 1);
  return common::collect_completed(v_, watch, until, helper, found);
}

void WorkerRuntime::add_ref(ObjectId id) {
  common::check_live(v_, id);  // the driver's own test: it ignores what fails it
  const std::uint64_t raw = id.value;
  post(wire::MsgType::kHold, std::as_bytes(std::span(&raw, 1)));
}

void WorkerRuntime::release(ObjectId id) noexcept {
  if (g_forked_child) return;  // a forked child's refs are copies: the worker's own stand
  bool wake = false;
  {
    std::lock_guard lock(mu_);
    releases_.push_back(id.value);
    // Posted at once (a ring record, no syscall): a buffer held to the task's end kept a
    // service task's dropped objects, and their memory, alive for as long as it ran. The one
    // wait: a result being published may hold this ref, and the driver pins a result's refs
    // only at its TaskDone; until then finish() posts these after it.
    if (publishing_depth_ != 0) return;
    wake = flush_releases_locked();
  }
  if (wake) ring_doorbell();
}

void WorkerRuntime::cancel(ObjectId id, const CancelOptions& options) {
  const shm::ObjectSlot* s = &common::check_live(v_, id);
  const wire::CancelRequest c{id.value, options.force ? 1u : 0u, options.recursive ? 1u : 0u};
  post(wire::MsgType::kCancel, std::as_bytes(std::span(&c, 1)));
  ring_doorbell();
  // The driver decides; give it a moment (100 ms at most) so a get() right after sees the
  // cancellation. Sleep between looks rather than spin: on a busy machine the driver needs
  // this CPU to act on the request.
  const std::uint64_t until = shm::now_ns() + 100'000'000;
  for (auto pause = std::chrono::microseconds(20); shm::now_ns() < until && !v_.word(*s).final();
       pause = std::min(pause * 2, std::chrono::microseconds(1000)))
    std::this_thread::sleep_for(pause);
}

}  // namespace shmray::worker
