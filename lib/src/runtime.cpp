// init/shutdown, the process's current runtime, and the small out-of-line pieces of the
// public headers (reference handles, deadlines, error types).
#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <new>
#include <sstream>
#include <thread>

#include "driver/driver.hpp"
#include "init_options.hpp"
#include "notifier.hpp"
#include "runtime_slot.hpp"
#include "shmray/api.hpp"
#include "shmray/detail/invoke.hpp"
#include "shmray/detail/ref_handle.hpp"
#include "shmray/detail/registry.hpp"
#include "shmray/errors.hpp"

namespace shmray {

namespace {

std::mutex g_mu;  // init/shutdown
std::unique_ptr<driver::Driver> g_driver;
std::atomic<detail::RuntimeApi*> g_runtime{nullptr};
std::atomic<std::uint32_t> g_session{0};
std::atomic<std::uint64_t> g_generation{0};  // bumped by every init(); refs remember theirs
std::uint32_t g_last_session = 0;
bool g_worker = false;
bool g_atexit_registered = false;
bool g_atfork_registered = false;
pid_t g_driver_pid = 0;
std::atomic<std::uint32_t> g_calls{0};  // RuntimeCalls in flight: shutdown() waits for them
// Set in a child forked from a process that ran a pool (the driver, or a worker in a task):
// the child owns no pool, every API call in it throws ForkedProcessError. A host's child
// may init() a pool of its own (which clears it); a task's child may not.
std::atomic<bool> g_forked{false};
bool g_forked_from_worker = false;
std::uint64_t g_inherited_generation = 0;  // refs of this init() or older belong to the parent's pool
StoreStats (*g_worker_stats)() = nullptr;
driver::Driver* g_abandoned = nullptr;  // a driver never to be destroyed here (kept reachable)

// Lets go of the driver without destroying it: its destructor would stop a pool that is not
// this process's to stop, or free memory a call still uses.
void abandon_driver() noexcept {
  if (g_driver) g_abandoned = g_driver.release();
}

[[noreturn]] void throw_forked(const std::string& what) {
  throw ForkedProcessError(what + ": this process was forked from one that runs a shmray pool" +
                           (g_forked_from_worker ? " (inside a task)" : " (after shmray::init())") +
                           "; a forked child owns no pool: use the API in the parent, or exec" +
                           (g_forked_from_worker ? "" : " (or call shmray::init() here for a pool of its own)"));
}

[[noreturn]] void throw_no_runtime() {
  if (g_forked.load(std::memory_order_acquire)) throw_forked("shmray");
  throw NotInitializedError("shmray: not initialized; call shmray::init() (or create a shmray::Session) first");
}

// pthread_atfork child handler (the child is one thread with a copy of the parent's memory).
// The parent's pool is not the child's: no destructor, atexit handler or API call in the
// child may touch it, so the driver object is leaked on purpose and the runtime uninstalled.
void disown_in_child() noexcept {
  g_calls.store(0, std::memory_order_relaxed);                          // the threads that held them are not here
  new (&g_mu) std::mutex;                                               // another thread may have held it at fork()
  if (!g_driver && !g_runtime.load(std::memory_order_relaxed)) return;  // nothing owned
  g_forked_from_worker = g_worker;
  g_inherited_generation = g_generation.load(std::memory_order_relaxed);
  g_runtime.store(nullptr, std::memory_order_relaxed);
  g_session.store(0, std::memory_order_relaxed);
  if (g_driver) g_driver->forget_after_fork();
  abandon_driver();
  g_forked.store(true, std::memory_order_release);
}

// Waits until no call holds the runtime; false after `limit` (re-waking waiters meanwhile).
bool drain_calls(driver::Driver& d, std::chrono::milliseconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (g_calls.load(std::memory_order_seq_cst) != 0) {
    if (std::chrono::steady_clock::now() > until) return false;
    d.close_calls();  // again: a waiter may have read the epoch just after the last bump
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

void shutdown_at_exit() {
  if (::getpid() == g_driver_pid) shutdown();
}

}  // namespace

void init(const Options& options) {
  // Checked before g_mu: a worker inherits it as it was at fork (init() forks under it).
  if (g_forked.load(std::memory_order_acquire) && g_forked_from_worker) throw_forked("shmray::init");
  if (g_worker) throw AlreadyInitializedError("shmray::init: this is a worker process; the runtime is already running");
  std::lock_guard lock(g_mu);
  if (g_driver) throw AlreadyInitializedError("shmray::init: already initialized; call shmray::shutdown() first");
  if (std::string conflicts = detail::registry_conflicts(); !conflicts.empty()) throw Error(conflicts);
  const Options o = setup::resolve(options);
  g_last_session = g_last_session % 255 + 1;
  g_generation.fetch_add(1, std::memory_order_acq_rel);  // before the fork: workers inherit it
  if (!g_atfork_registered) {
    ::pthread_atfork(nullptr, nullptr, disown_in_child);
    g_atfork_registered = true;
  }
  driver::set_log_sink(o.log_sink);  // init()'s own warnings go there too
  setup::warn_if_threads(o);
  detail::seal_registry();  // the workers fork now: later registrations are refused by name
  try {
    g_driver = driver::Driver::start(o, g_last_session);
  } catch (...) {
    detail::unseal_registry();
    driver::set_log_sink({});
    throw;
  }
  g_forked.store(false, std::memory_order_release);  // a forked child now has a pool of its own
  g_driver_pid = ::getpid();
  g_session.store(g_last_session, std::memory_order_release);
  g_runtime.store(g_driver.get(), std::memory_order_release);
  if (!g_atexit_registered) {
    std::atexit(shutdown_at_exit);
    g_atexit_registered = true;
  }
  const std::string url = g_driver->dashboard_url();
  if (!o.quiet)
    driver::log(LogLevel::info,
                "shmray: started " + std::to_string(o.num_workers) + (o.num_workers == 1 ? " worker, " : " workers, ") +
                    setup::gib(g_driver->store_bytes()) + " object store" +
                    (url.empty() ? "" : ", dashboard at " + url));  // never SIGPIPE, never blocks
  if (g_driver->dashboard_exposed())                                // even when quiet: it is a security matter
    driver::log(LogLevel::warning,
                "shmray: the dashboard at " + url +
                    " listens beyond this machine's loopback: anyone who reaches it can read it (no authentication)");
}

void shutdown() noexcept {
  // A worker, or a forked child that owns no pool: nothing to stop (checked before g_mu,
  // which fork may have copied held).
  if (g_worker || g_forked.load(std::memory_order_acquire)) return;
  // Before g_mu: a callback running now may call the API (which takes g_mu) before it returns.
  internal::stop_notifier();
  std::lock_guard lock(g_mu);
  if (!g_driver) return;
  detail::unseal_registry();         // the next init() forks workers with what is registered by then
  if (::getpid() != g_driver_pid) {  // forked without the atfork handler (raw clone): not ours
    abandon_driver();
    return;
  }
  // New calls see no runtime; calls in flight are woken, throw NotInitializedError and leave
  // before anything is freed.
  g_runtime.store(nullptr, std::memory_order_seq_cst);
  g_session.store(0, std::memory_order_release);
  g_driver->close_calls();
  if (!drain_calls(*g_driver, std::chrono::seconds(10))) {
    driver::warn(
        "shmray: shutdown(): a call in another thread did not return within 10 s; the pool is left "
        "running until the process exits");
    abandon_driver();
    return;
  }
  g_driver.reset();
  driver::set_log_sink({});  // the event thread is gone: no call of it is in flight
}

bool is_initialized() noexcept { return g_runtime.load(std::memory_order_acquire) != nullptr; }

bool cancelled() {
  detail::RuntimeCall rt(std::nothrow);
  return rt.ok() && rt->cancelled();
}

StoreStats store_stats() {
  if (g_forked.load(std::memory_order_acquire)) throw_forked("shmray::store_stats");
  if (g_worker) return g_worker_stats ? g_worker_stats() : StoreStats{};  // without g_mu: see init()
  std::lock_guard lock(g_mu);
  if (!g_driver) throw NotInitializedError("shmray::store_stats: call shmray::init() first");
  const driver::Usage u = g_driver->usage();
  return StoreStats{g_driver->store_bytes(), u.object_bytes, u.objects, u.spans * shm::kSpanBytes};
}

Stats stats() {
  if (g_forked.load(std::memory_order_acquire)) throw_forked("shmray::stats");
  if (g_worker)
    throw Error(
        "shmray::stats: called inside a task; the counters live in the driver process (the host program), which "
        "alone sees every task: call it there, or pass what a task needs as an argument (store_stats() works here)");
  std::lock_guard lock(g_mu);
  if (!g_driver) throw NotInitializedError("shmray::stats: call shmray::init() first");
  return g_driver->stats();
}

void timeline(const std::string& path) {
  if (g_forked.load(std::memory_order_acquire)) throw_forked("shmray::timeline");
  if (g_worker) throw Error("shmray::timeline: call it in the driver process (the host program), not in a task");
  std::lock_guard lock(g_mu);
  if (!g_driver) throw NotInitializedError("shmray::timeline: call shmray::init() first");
  g_driver->write_timeline(path);
}

namespace internal {
void install_worker_runtime(detail::RuntimeApi* rt, std::uint32_t session) noexcept {
  new (&g_mu) std::mutex;  // copied from the driver, maybe held (init() forks under it)
  g_calls.store(0, std::memory_order_relaxed);
  g_forked.store(false, std::memory_order_relaxed);  // a member of the pool, not a stray fork
  g_forked_from_worker = false;
  g_inherited_generation = 0;
  g_worker = true;
  (void)g_driver.release();  // the driver object copied by fork() belongs to the driver process: never touch it
  g_session.store(session, std::memory_order_release);
  g_runtime.store(rt, std::memory_order_release);
}
bool in_worker_process() noexcept { return g_worker; }
void install_worker_stats(StoreStats (*stats)()) noexcept { g_worker_stats = stats; }
}  // namespace internal

namespace detail {

RuntimeApi& runtime() {
  RuntimeApi* rt = g_runtime.load(std::memory_order_acquire);
  if (!rt) throw_no_runtime();
  return *rt;
}

// seq_cst on both sides (here and in shutdown()): either the call sees no runtime, or
// shutdown() sees the call and waits for it.
RuntimeCall::RuntimeCall(std::nothrow_t) noexcept {
  g_calls.fetch_add(1, std::memory_order_seq_cst);
  rt_ = g_runtime.load(std::memory_order_seq_cst);
  if (!rt_) g_calls.fetch_sub(1, std::memory_order_seq_cst);
}
RuntimeCall::RuntimeCall() : RuntimeCall(std::nothrow) {
  if (!rt_) throw_no_runtime();
}
RuntimeCall::~RuntimeCall() {
  if (rt_) g_calls.fetch_sub(1, std::memory_order_seq_cst);
}

RefHandle* adopt_ref(ObjectId id) { return new RefHandle{{1}, id, g_generation.load(std::memory_order_acquire)}; }

RefHandle* acquire_ref(ObjectId id) {
  RuntimeCall rt;
  rt->add_ref(id);
  return new RefHandle{{1}, id, g_generation.load(std::memory_order_acquire)};
}

void release_ref(RefHandle* h) noexcept {
  // No runtime (after shutdown(), or in a forked child): nothing to tell anyone.
  RuntimeCall rt(std::nothrow);
  if (rt.ok() && h->runtime == g_generation.load(std::memory_order_acquire)) rt->release(h->id);
  delete h;
}

std::uint64_t runtime_generation() noexcept { return g_generation.load(std::memory_order_acquire); }
std::uint64_t live_generation() noexcept {
  const std::uint64_t g = g_generation.load(std::memory_order_acquire);
  return g > g_inherited_generation ? g : 0;  // as checked_id: a ref of the parent's pool passes no check
}

void free_block_noexcept(std::uint64_t offset, std::uint64_t generation) noexcept {
  RuntimeCall rt(std::nothrow);
  if (rt.ok() && generation == g_generation.load(std::memory_order_acquire)) rt->free_block(offset);
}

ObjectId checked_id(const RefHandle* h, const char* what) {
  if (!h)
    throw std::invalid_argument(std::string(what) + ": the ObjectRef is empty (default-constructed or moved from)");
  if (g_inherited_generation != 0 && h->runtime <= g_inherited_generation) throw_forked(what);
  if (h->runtime != g_generation.load(std::memory_order_acquire))
    throw std::invalid_argument(std::string(what) + ": ObjectRef(" + h->id.hex() +
                                ") belongs to a runtime that was shut down; refs do not survive shutdown()");
  return h->id;
}

Deadline Deadline::after(std::chrono::nanoseconds d) {
  if (d.count() < 0) throw std::invalid_argument("shmray: a timeout must not be negative");
  const auto now = Clock::now();
  if (d > Clock::time_point::max() - now) return never();
  return {now + d};
}

namespace {
struct ScratchStack {
  std::vector<std::unique_ptr<EncodeScratch>> levels;
  std::size_t depth = 0;
};
thread_local ScratchStack t_scratch;
}  // namespace

ScratchLease::ScratchLease() {
  ScratchStack& st = t_scratch;
  if (st.depth == st.levels.size()) st.levels.push_back(std::make_unique<EncodeScratch>());
  s_ = st.levels[st.depth++].get();
}
ScratchLease::~ScratchLease() { --t_scratch.depth; }

namespace {
struct WaitStack {
  std::vector<std::unique_ptr<WaitBuffers>> levels;
  std::size_t depth = 0;
};
thread_local WaitStack t_wait;
}  // namespace

WaitScratch::WaitScratch() {
  WaitStack& st = t_wait;
  if (st.depth == st.levels.size()) st.levels.push_back(std::make_unique<WaitBuffers>());
  b_ = st.levels[st.depth++].get();
  b_->ids.clear();
}
WaitScratch::~WaitScratch() { --t_wait.depth; }

void throw_buffer_too_large(std::size_t n, std::size_t element_bytes) {
  throw ObjectStoreFullError("shmray::Buffer: " + std::to_string(n) + " elements of " + std::to_string(element_bytes) +
                             " bytes take more bytes than a size_t can count, far more than any object store; "
                             "ask for fewer elements");
}

void throw_null_actor() { throw std::logic_error("shmray: the actor's factory returned nullptr"); }
void throw_no_actor() { throw std::logic_error("shmray: an actor method reached a process that holds no actor"); }

void throw_serialization_error(const char* what) { throw SerializationError(std::string("shmray: ") + what); }
namespace {
// The message of the exception in flight (a what() may return null).
std::string current_reason() {
  try {
    throw;
  } catch (const std::exception& e) {
    const char* w = e.what();
    return w ? w : "(what() returned null)";
  } catch (...) {
    return "unknown exception";
  }
}
}  // namespace

void rethrow_result_not_serializable() {
  throw SerializationError("the task's result could not be serialized: " + current_reason());
}

void rethrow_value_not_serializable() {
  try {
    throw;
  } catch (const SerializationError&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw;
  } catch (...) {
  }
  throw SerializationError("shmray::put: the value could not be serialized: " + current_reason());
}

void rethrow_argument_not_serializable(std::size_t position, std::uint32_t function) {
  try {
    throw;
  } catch (const std::bad_alloc&) {
    throw;
  } catch (...) {
  }
  const FunctionInfo* fn = function_at(function);
  throw SerializationError("shmray: argument " + std::to_string(position + 1) + " of " +
                           (fn ? fn->name : std::string("the task")) + " could not be serialized: " + current_reason());
}

void throw_view_mismatch() {
  throw SerializationError("shmray::get_view: the stored bytes do not have the layout of the view's type");
}

}  // namespace detail

namespace {
std::string task_error_what(const std::string& type_name, const std::string& message, const std::string& function,
                            const std::string& task_name, const std::vector<std::string>& via) {
  std::string s = task_name.empty() || task_name == function ? function : task_name + " (" + function + ")";
  s += " raised " + type_name;
  if (!message.empty()) s += ": " + message;
  for (std::size_t i = 0; i < via.size(); ++i) s += (i ? ", " : " (via ") + via[i];
  if (!via.empty()) s += ")";
  return s;
}
}  // namespace

TaskError::TaskError(std::string type_name, std::string message, std::string function, int pid)
    : TaskError(std::move(type_name), std::move(message), std::move(function), pid, {}, {}) {}

TaskError::TaskError(std::string type_name, std::string message, std::string function, int pid, std::string task_name,
                     std::vector<std::string> via)
    : Error(task_error_what(type_name, message, function, task_name, via)),
      type_name_(std::move(type_name)),
      message_(std::move(message)),
      function_(std::move(function)),
      pid_(pid),
      task_name_(std::move(task_name)),
      via_(std::move(via)) {}

}  // namespace shmray
