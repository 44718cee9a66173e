// on_ready()'s notifier: one thread per process, started by the first on_ready(), that
// watches the pending ids with collect_final (as as_completed does: a spin, then a sleep on
// the store's completion futex) and runs each callback once its object is final.
//
// Why a thread of ours and not the caller's: std::future and event loops want to be told,
// not to poll. Why one: a thread per future would cost a stack and a futex waiter each.
// The thread watches a snapshot of the ids; ones added meanwhile are picked up at the next
// look, at most kLook later. shutdown() stops and joins the thread. At shutdown() (or any error from the runtime: refs
// of an earlier init()) the pending callbacks are dropped, never run: a to_future() future then reports
// std::future_error (broken_promise) instead of hanging.
#include <pthread.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <functional>
#include <mutex>
#include <new>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "driver/warn.hpp"
#include "notifier.hpp"
#include "shmray/detail/runtime_api.hpp"
#include "shmray/future.hpp"  // when_final, exported

namespace shmray::detail {
namespace {

constexpr auto kLook = std::chrono::milliseconds(2);  // how late an id added meanwhile is seen
constexpr auto kStopWait = std::chrono::seconds(10);  // for a callback running at shutdown(), as drain_calls

thread_local bool t_notifier_thread = false;

class Notifier {
 public:
  void add(ObjectId id, std::function<void()> fn) {
    std::lock_guard lock(mu_);
    // A callback that re-arms while shutdown() drops the rest: dropped too (fn is destroyed
    // after the lock), not a new thread that would outlive shutdown.
    if (stopping_) return;
    ids_.push_back(id);
    fns_.push_back(std::move(fn));
    if (!running_) {
      running_ = true;
      if (thread_.joinable()) thread_.detach();  // one told to stop but slow to leave: it leaves alone
      ++live_;
      thread_ = std::thread([this, mine = generation_] { run(mine); });
      ::pthread_setname_np(thread_.native_handle(), "shmray-notify");  // for ps, gdb and the tests
    }
    cv_.notify_one();
  }

  // shutdown(): drops what is pending and joins the thread (else the next init() would fork
  // its workers from a process with a thread of ours in it). From a callback, or when a
  // callback has not returned within kStopWait, it detaches instead: shutdown never hangs on
  // a user's callback.
  void stop() noexcept {
    std::thread t;
    std::vector<std::function<void()>> dropped;  // destroyed after the lock: they hold refs
    bool left = false;
    {
      std::unique_lock lock(mu_);
      if (!running_) return;
      running_ = false;
      ++generation_;  // the thread's, and any older one's, signal to leave
      t = std::move(thread_);
      std::swap(fns_, dropped);
      ids_.clear();
      cv_.notify_all();
      if (t.get_id() != std::this_thread::get_id()) {
        stopping_ = true;
        left = exited_.wait_for(lock, kStopWait, [&] { return live_ == 0; });
        stopping_ = false;
      }
    }
    if (left)
      t.join();
    else
      t.detach();
  }

  // In a child forked from a process that used on_ready: no thread was copied, and the mutex
  // may have been held. The callbacks belong to the parent's pool: forget them.
  void reset_after_fork() noexcept {
    new (&mu_) std::mutex;
    new (&cv_) std::condition_variable;
    new (&ids_) std::vector<ObjectId>;  // the parent's vectors leak here: the child must not free them
    new (&fns_) std::vector<std::function<void()>>;
    new (&exited_) std::condition_variable;
    new (&thread_) std::thread;  // the parent's threads are not here
    running_ = false;
    stopping_ = false;
    live_ = 0;
  }

 private:
  void run(std::uint64_t mine) {
    t_notifier_thread = true;  // works for no task: a cancel of the task the worker runs is not ours
    std::vector<ObjectId> watched;
    std::vector<std::uint32_t> final;
    std::vector<std::function<void()>> due;
    for (;;) {
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return generation_ != mine || !ids_.empty(); });
        if (generation_ != mine) return leave();
        watched = ids_;  // only this thread removes: watched[i] stays ids_[i] while it looks
      }
      final.clear();
      bool broken = false;
      try {
        RuntimeCall rt;
        rt->collect_final(watched, Deadline::after(kLook), final);
      } catch (...) {
        broken = true;  // shut down, or a ref of an earlier init(): none of these will run
      }
      {
        std::lock_guard lock(mu_);
        if (generation_ != mine) return leave();  // stop() emptied the lists: `final` indexes nothing now
        if (broken) {
          due.clear();
          std::swap(fns_, due);  // destroyed outside the lock, never called
          ids_.clear();
        } else {
          for (std::size_t k = final.size(); k-- > 0;) {  // descending: the swap-removals keep lower indices
            const std::size_t i = final[k];
            due.push_back(std::move(fns_[i]));
            fns_[i] = std::move(fns_.back());
            fns_.pop_back();
            ids_[i] = ids_.back();
            ids_.pop_back();
          }
        }
      }
      if (!broken)
        for (auto it = due.rbegin(); it != due.rend(); ++it) call(*it);  // in the ids' order
      due.clear();
    }
  }

  void leave() {  // mu_ held
    --live_;
    exited_.notify_all();
  }

  static void call(std::function<void()>& fn) noexcept {
    try {
      fn();
    } catch (const std::exception& e) {
      driver::warn(std::string("shmray: an on_ready callback threw (ignored): ") + e.what());
    } catch (...) {
      driver::warn("shmray: an on_ready callback threw (ignored)");
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<ObjectId> ids_;
  std::vector<std::function<void()>> fns_;
  std::condition_variable exited_;  // live_ fell
  std::thread thread_;
  bool running_ = false;
  bool stopping_ = false;         // stop() waits for the thread: add() drops, starts none
  std::uint64_t generation_ = 0;  // bumped by stop(): a thread of an older one leaves
  int live_ = 0;                  // threads started and not yet left
};

Notifier& notifier() {
  static Notifier* n = [] {
    auto* made = new Notifier;  // never destroyed: a thread detached in stop() may still leave
    ::pthread_atfork(nullptr, nullptr, [] { notifier().reset_after_fork(); });
    return made;
  }();
  return *n;
}

}  // namespace

void when_final(ObjectId id, std::function<void()> fn) { notifier().add(id, std::move(fn)); }

}  // namespace shmray::detail

namespace shmray::internal {
void stop_notifier() noexcept { detail::notifier().stop(); }
bool on_notifier_thread() noexcept { return detail::t_notifier_thread; }
}  // namespace shmray::internal
