#pragma once
/// @file task_caller.h
/// ray::Task(f) returns a TaskCaller; .SetName / .SetResource / .SetResources set options,
/// .Remote(args...) submits and returns the ObjectRef of the result.
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include <ray/api/backend.h>
#include <ray/api/object_ref.h>
#include <ray/api/ray_remote.h>
#include <ray/api/serializer.h>

namespace ray {
namespace internal {

template <class F>
struct FunctionTraits {
  static_assert(dependent_false_v<F>,
                "ray::Task: pass a free function registered with RAY_REMOTE (an overload: RAY_FUNC(f, Args...))");
};
template <class R, class... P>
struct FunctionTraits<R (*)(P...)> {
  using Return = R;
  using Params = std::tuple<P...>;
  static constexpr std::size_t arity = sizeof...(P);
};

/// Ray's rule: argument A fits parameter P when A, or the T of an ObjectRef<T> A, converts to P.
template <class P, class A>
constexpr bool ArgumentFits() {
  using AD = std::decay_t<A>;
  using D = std::decay_t<P>;
  if constexpr (is_object_ref_v<AD>)
    return std::is_convertible_v<const typename is_object_ref<AD>::inner&, D>;
  else
    return std::is_convertible_v<A, D>;
}

template <class P, class A>
void EncodeArg(std::string& out, std::vector<std::uint64_t>& resolve, A&& a) {
  using D = std::decay_t<P>;
  using AD = std::decay_t<A>;
  if constexpr (is_object_ref_v<AD>) {
    const std::uint64_t id = a.RawId();
    char raw[9];
    raw[0] = static_cast<char>(kRefArg);
    std::memcpy(raw + 1, &id, 8);
    out.append(raw, 9);
    resolve.push_back(id);
  } else {
    out.push_back(static_cast<char>(kValueArg));
    StringStream s{&out};
    if constexpr (std::is_same_v<AD, D>)
      msgpack::packer<StringStream>(s).pack(a);
    else
      msgpack::packer<StringStream>(s).pack(D(std::forward<A>(a)));
  }
}

template <class... P, class... A, std::size_t... I>
void EncodeArgs(std::tuple<P...>*, std::string& out, std::vector<std::uint64_t>& resolve, std::index_sequence<I...>,
                A&&... a) {
  (EncodeArg<std::tuple_element_t<I, std::tuple<P...>>>(out, resolve, std::forward<A>(a)), ...);
}

/// The arguments of a call of a function whose parameters are `Params` (a std::tuple);
/// ActorHandles among them are listed in `contained`.
template <class Params, class... A>
backend::CallArgs EncodeCall(A&&... a) {
  backend::CallArgs call;
  CollectHandles collect(&call.contained);
  EncodeArgs(static_cast<Params*>(nullptr), call.args, call.resolve, std::make_index_sequence<sizeof...(A)>{},
             std::forward<A>(a)...);
  return call;
}

/// Every argument fits its parameter (true for a count mismatch: that has its own message).
template <class Params, class... Args, std::size_t... I>
constexpr bool FitsAll(std::index_sequence<I...>) {
  if constexpr (sizeof...(Args) != std::tuple_size_v<Params>)
    return true;
  else
    return (ArgumentFits<std::tuple_element_t<I, Params>, Args>() && ...);
}

}  // namespace internal

template <class F>
class TaskCaller {
  using Traits = internal::FunctionTraits<F>;

 public:
  using ReturnType = typename Traits::Return;

  /// Throws RayFunctionNotFound when no RAY_REMOTE registered `f`.
  explicit TaskCaller(F f)
      : function_(internal::backend::FunctionIndex(reinterpret_cast<internal::backend::AnyFn>(f))) {}

  /// Name for logs and errors.
  TaskCaller& SetName(std::string name) {
    spec_.name = std::move(name);
    return *this;
  }
  /// "CPU": worker slots the task holds. Any other resource (but "memory" and
  /// "object_store_memory", which this machine always has) is one shmray does not have: the
  /// task stays pending, as on a Ray node without it.
  TaskCaller& SetResource(const std::string& name, double value) {
    spec_.resources[name] = value;
    return *this;
  }
  TaskCaller& SetResources(const std::unordered_map<std::string, double>& resources) {
    for (const auto& r : resources) spec_.resources[r.first] = r.second;
    return *this;
  }

  /// Submits the task. An ObjectRef<T> argument is resolved to its T before the call.
  template <class... Args>
  ObjectRef<ReturnType> Remote(Args&&... args) {
    static_assert(sizeof...(Args) == Traits::arity,
                  "ray::Task(f).Remote: got a different number of arguments than f has parameters");
    static_assert(internal::FitsAll<typename Traits::Params, Args...>(std::make_index_sequence<sizeof...(Args)>{}),
                  "ray::Task(f).Remote: arguments not match: an argument (or the T of an ObjectRef<T> "
                  "argument) does not convert to its parameter's type");
    const internal::backend::CallArgs call = internal::EncodeCall<typename Traits::Params>(std::forward<Args>(args)...);
    return internal::MakeRef<ReturnType>(internal::backend::Submit(function_, call, spec_));
  }

 private:
  std::uint32_t function_;
  internal::backend::TaskSpec spec_;
};

}  // namespace ray
