// detail::CompletionWatch: the exported handle of an as_completed() watch. Above the driver and
// the worker (as runtime.cpp): it calls whichever runtime runs, and ends a watch only in the
// runtime that started it (a shutdown() or a new init() in between leaves the segment it named
// unmapped, or another one's: then the state just goes).
#include <stdexcept>

#include "common/completion_watch.hpp"
#include "shmray/detail/runtime_api.hpp"

namespace shmray::detail {

CompletionWatch::CompletionWatch(std::vector<ObjectId> ids) : s_(new WatchState(std::move(ids))) {}

CompletionWatch& CompletionWatch::operator=(CompletionWatch&& o) noexcept {
  if (this != &o) {
    CompletionWatch gone(std::move(*this));
    s_ = o.s_;
    o.s_ = nullptr;
  }
  return *this;
}

CompletionWatch::~CompletionWatch() {
  if (!s_) return;
  if (s_->ring) {
    RuntimeCall rt(std::nothrow);  // held while it unregisters: shutdown() waits for it
    if (rt.ok() && s_->generation == runtime_generation()) common::end_watch(*s_);
  }
  delete s_;
}

std::size_t CompletionWatch::collect(Deadline until, std::vector<std::uint32_t>& found) {
  if (!s_) return 0;
  RuntimeCall rt;
  if (s_->ring && s_->generation != runtime_generation()) {
    s_->ring = nullptr;  // registered in a runtime that is gone: its segment is not ours to touch
    throw std::invalid_argument("shmray: an ObjectRef names no live object (from an earlier init()?)");
  }
  return rt->collect_completed(*s_, until, found);
}

}  // namespace shmray::detail
