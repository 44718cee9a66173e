#pragma once
/// @file as_completed.hpp
/// as_completed(refs): each ref once, as its object becomes final.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <utility>
#include <vector>
#include "shmray/detail/config.hpp"

#include "shmray/detail/runtime_api.hpp"
#include "shmray/object_ref.hpp"

namespace shmray {

/// The input range as_completed() returns: yields each of its refs exactly once, when the
/// ref's object is final (ready or failed: get() on a failed one throws its error). Refs that
/// are final at the first look come in input order; after that, refs found final in one look
/// come in no set order. Single pass; iterate it where it was made (an iterator points into
/// the range: moving the range after begin() leaves it dangling).
///
/// How: the refs not yet yielded sit in a vector; one look at all of them (spinning briefly,
/// then sleeping on the store's completion futex, as wait() does) moves every final one to a
/// queue that the next steps take from, with swap-removal. A look costs O(pending), with no
/// allocation and no copy of a ref, and takes everything final by then. So draining n refs
/// that are already final costs O(n); when they finish one by one, slower than a look, the
/// cost is O(pending) per ref (a look over 20,000 refs is some microseconds; bench row
/// as_completed_one_by_one_20k_s measures it). Inside a task,
/// a ref whose task is still queued is run inline (without a timeout), as get() and wait()
/// do there.
template <class T>
class AsCompleted {
 public:
  /// Input iterator over the range; compares equal to std::default_sentinel_t at its end.
  class iterator {
   public:
    ///@{
    /// Iterator traits (an input iterator over ObjectRef<T>).
    using iterator_concept = std::input_iterator_tag;
    using iterator_category = std::input_iterator_tag;
    using value_type = ObjectRef<T>;
    using difference_type = std::ptrdiff_t;
    using reference = ObjectRef<T>&;
    ///@}
    /// A singular iterator (equal to the end).
    iterator() = default;
    /// The ref of this step (final: get() on it does not wait).
    reference operator*() const { return r_->current_; }
    /// Waits for the next final ref (or the end).
    iterator& operator++() {
      r_->advance();
      return *this;
    }
    /// As ++it.
    void operator++(int) { ++*this; }
    /// True at the end: every ref yielded, or the deadline passed.
    friend bool operator==(const iterator& it, std::default_sentinel_t) noexcept { return it.at_end(); }

   private:
    friend class AsCompleted;
    explicit iterator(AsCompleted* r) : r_(r) {}
    bool at_end() const noexcept { return !r_ || r_->done_; }
    AsCompleted* r_ = nullptr;
  };

  /// Internal: use as_completed(). Checks the refs (std::invalid_argument for an empty ref, one
  /// from before the last init(), or one given twice).
  AsCompleted(std::vector<ObjectRef<T>> refs, detail::Deadline until) : pending_(std::move(refs)), until_(until) {
    ids_.reserve(pending_.size());
    const std::uint64_t live = detail::live_generation();
    for (const auto& r : pending_) ids_.push_back(r.checked_id("shmray::as_completed", live));
    detail::check_distinct(ids_, "shmray::as_completed");
    ready_.reserve(pending_.size());
    found_.reserve(pending_.size());
  }
  AsCompleted(const AsCompleted&) = delete;
  AsCompleted& operator=(const AsCompleted&) = delete;
  /// Moves the state (before begin() only: iterators point at the range they came from).
  AsCompleted(AsCompleted&&) noexcept = default;
  /// Moves the state (before begin() only).
  AsCompleted& operator=(AsCompleted&&) noexcept = default;
  ~AsCompleted() = default;

  /// Waits for the first final ref. Call it once.
  iterator begin() {
    if (!started_) {
      started_ = true;
      advance();
    }
    return iterator(this);
  }
  /// The end.
  std::default_sentinel_t end() const noexcept { return {}; }

  /// The refs not yielded yet (after the deadline: those still not final, plus any final but
  /// not reached when the loop was left early).
  std::vector<ObjectRef<T>> remaining() const {
    std::vector<ObjectRef<T>> out(ready_.rbegin(), ready_.rend());
    out.insert(out.end(), pending_.begin(), pending_.end());
    return out;
  }

 private:
  void advance() {
    current_ = ObjectRef<T>();
    if (ready_.empty()) refill();
    if (ready_.empty()) {
      done_ = true;
      return;
    }
    current_ = std::move(ready_.back());
    ready_.pop_back();
  }
  // One look (waiting for the first final ref): every final pending ref moves to ready_,
  // the lowest input index last, so that it is taken first.
  void refill() {
    if (ids_.empty()) return;
    found_.clear();
    {
      detail::RuntimeCall rt;  // not held while the caller's loop body runs: shutdown() may come there
      rt->collect_final(ids_, until_, found_);
    }
    for (std::size_t k = found_.size(); k-- > 0;) {
      const std::size_t i = found_[k];
      ready_.push_back(std::move(pending_[i]));
      if (i + 1 != pending_.size()) {
        pending_[i] = std::move(pending_.back());
        ids_[i] = ids_.back();
      }
      pending_.pop_back();
      ids_.pop_back();
    }
  }

  std::vector<ObjectRef<T>> pending_;  // not final at the last look; ids_[i] is pending_[i]'s id
  std::vector<detail::ObjectId> ids_;
  std::vector<ObjectRef<T>> ready_;  // final, not yielded: taken from the back
  std::vector<std::uint32_t> found_;
  ObjectRef<T> current_;
  detail::Deadline until_;
  bool started_ = false, done_ = false;
};

/// Each of `refs` once, as its object becomes final (ready or failed; costs: see AsCompleted);
/// no num_returns. std::invalid_argument for an empty ref or one given twice (as wait()).
/// Works in the driver and inside a task. An empty list yields nothing.
/// @code
/// for (shmray::ObjectRef<int> done : shmray::as_completed(refs)) use(done.get());
/// @endcode
template <class T>
AsCompleted<T> as_completed(std::vector<ObjectRef<T>> refs) {
  return AsCompleted<T>(std::move(refs), detail::Deadline::never());
}

/// As as_completed(refs), but the range ends at the deadline (`timeout` from this call, for the
/// whole loop) without throwing, as wait() returns at its timeout: the refs final by then are
/// yielded first, and remaining() holds the others. A zero timeout yields those final now.
/// std::invalid_argument for a negative timeout.
/// @code
/// auto done = shmray::as_completed(refs, 10s);
/// for (auto& r : done) use(r.get());
/// for (auto& late : done.remaining()) shmray::cancel(late);
/// @endcode
template <class T, class Rep, class Period>
AsCompleted<T> as_completed(std::vector<ObjectRef<T>> refs, std::chrono::duration<Rep, Period> timeout) {
  return AsCompleted<T>(std::move(refs), detail::Deadline::after(timeout));
}

}  // namespace shmray
