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
/// How: the runtime keeps a watch over the refs (detail::CompletionWatch): it looks at all of
/// them once, at the first step; after that, whoever makes an object final while a watch is
/// registered appends it to a shared completion ring, and each step reads only what came
/// since its last read, mapping each entry to its ref through a hash table (built at the
/// first entry). So in the driver a step costs O(1) per ref it yields (and per other object
/// finished meanwhile, which it skips), plus O(refs) once at the start, whether the refs are
/// final already or finish one by one (bench rows as_completed_20k_s and
/// as_completed_one_by_one_20k_s). The ring holds 4096 entries: when more than that finished
/// between two reads (other objects count too), or every 100 ms without news, a step looks
/// at all refs not yielded yet instead (O(pending), rare). While waiting it spins briefly,
/// then sleeps on the store's completion futex, as wait() does. remaining() costs O(refs).
/// Inside a task, a ref whose task is still queued is run inline (without a timeout), as
/// get() and wait() do there; that walk still goes over the refs not yielded yet while it
/// waits, so there a step with nothing final costs O(pending).
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
  AsCompleted(std::vector<ObjectRef<T>> refs, detail::Deadline until)
      : refs_(std::move(refs)), taken_(refs_.size(), 0), left_(refs_.size()), until_(until) {
    std::vector<detail::ObjectId> ids;
    ids.reserve(refs_.size());
    const std::uint64_t live = detail::live_generation();
    for (const auto& r : refs_) ids.push_back(r.checked_id("shmray::as_completed", live));
    detail::check_distinct(ids, "shmray::as_completed");
    if (!ids.empty()) watch_ = detail::CompletionWatch(std::move(ids));
    ready_.reserve(refs_.size());
    found_.reserve(refs_.size());
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
    for (std::size_t i = 0; i < refs_.size(); ++i)
      if (!taken_[i]) out.push_back(refs_[i]);
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
  // Waits for the next refs to become final: each moves to ready_, the lowest input index
  // last, so that it is taken first.
  void refill() {
    if (left_ == 0) return;
    found_.clear();
    watch_.collect(until_, found_);  // holds the runtime for this call only: shutdown() may come in the loop body
    for (std::size_t k = found_.size(); k-- > 0;) {
      const std::size_t i = found_[k];
      taken_[i] = 1;
      ready_.push_back(std::move(refs_[i]));
      --left_;
    }
  }

  std::vector<ObjectRef<T>> refs_;  // in input order; moved out to ready_ when found
  std::vector<char> taken_;         // taken_[i]: refs_[i] was found final (moved out)
  std::size_t left_;                // refs not found yet
  detail::CompletionWatch watch_;
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
