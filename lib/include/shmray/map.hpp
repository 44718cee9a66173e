#pragma once
/// @file map.hpp
/// map(f, inputs, {.max_in_flight = K}): f over a range, at most K of its tasks unfinished at
/// once (back-pressure), the refs in input order.
#include <cstddef>
#include <iterator>
#include <ranges>
#include <tuple>
#include <utility>
#include <vector>
#include "shmray/detail/config.hpp"

#include "shmray/api.hpp"
#include "shmray/options.hpp"
#include "shmray/task.hpp"

namespace shmray {

/// Options of `map()`.
struct MapOptions {
  /// Tasks of this map that may be submitted and not yet finished (ready or failed) at once:
  /// map() waits for one to finish before it submits the next. 0: no bound (every input is
  /// submitted at once, as concurrent.futures' Executor.map does).
  std::size_t max_in_flight = 0;
  /// The options of every task the map submits.
  TaskOptions task{};
};

namespace detail {
/// One input as the call's arguments: the element itself for a one-parameter function, the
/// elements of a tuple-like element for more.
template <std::size_t NumParams, class Caller, class E>
auto remote_one(const Caller& caller, E&& element) {
  if constexpr (NumParams == 1)
    return caller.remote(std::forward<E>(element));
  else
    return std::apply([&](auto&&... a) { return caller.remote(std::forward<decltype(a)>(a)...); },
                      std::forward<E>(element));
}
}  // namespace detail

/// Submits f once per element of `inputs` and returns the refs in input order; for a function
/// of several parameters each element is a tuple (or pair, or array) of the arguments. With
/// max_in_flight = K, map() returns only once every input is submitted, and never has more
/// than K of its tasks unfinished: it waits (as wait() does, inside a task too) for one to
/// finish before submitting the next. A failed task counts as finished; its ref throws at
/// get(). Throws what remote() and wait() throw (then the refs submitted so far are dropped).
/// @code
/// std::vector<int> squares = shmray::get(shmray::map(square, inputs, {.max_in_flight = 64}));
/// @endcode
template <class R, class... P, class Range>
std::vector<typename TaskCaller<R (*)(P...)>::Result> map(R (*f)(P...), Range&& inputs, MapOptions options = {}) {
  static_assert(sizeof...(P) >= 1, "shmray::map(f, inputs): f must take at least one parameter");
  using Ref = typename TaskCaller<R (*)(P...)>::Result;
  TaskCaller<R (*)(P...)> caller(f);
  caller.options(std::move(options.task));
  std::vector<Ref> out;
  if constexpr (std::ranges::sized_range<Range>) out.reserve(std::ranges::size(inputs));
  std::vector<Ref> in_flight;  // copies of out's unfinished refs, at most K
  const std::size_t k = options.max_in_flight;
  for (auto&& element : inputs) {
    if (k != 0 && in_flight.size() >= k) {
      WaitResult<typename Ref::value_type> w = wait(std::move(in_flight), {.num_returns = 1});
      in_flight = std::move(w.rest);
    }
    out.push_back(detail::remote_one<sizeof...(P)>(caller, std::forward<decltype(element)>(element)));
    if (k != 0) in_flight.push_back(out.back());
  }
  return out;
}

}  // namespace shmray
