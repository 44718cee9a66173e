#pragma once
/// @file ray_remote.h
/// RAY_REMOTE(f, g, ...) registers free functions so the worker processes can run them (and
/// actor factories and member functions: actor_remote.h); RAY_FUNC(f, Args...) picks one
/// overload of f. The worker-side invoker is instantiated
/// here for each registered signature.
///
/// Argument format (what TaskCaller::Remote writes and Invoke reads): per parameter one tag
/// byte, then either a msgpack value (tag 0) or the 8-byte id of an ObjectRef the worker
/// resolves to its stored msgpack bytes (tag 1).
#include <cstdint>
#include <cstring>
#include <string>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include <ray/api/backend.h>
#include <ray/api/object_ref.h>
#include <ray/api/serializer.h>

namespace ray {
namespace internal {

enum ArgTag : unsigned char { kValueArg = 0, kRefArg = 1 };

template <class D>
D DecodeArg(shmray::detail::TaskCall& call, backend::Bytes args, std::size_t& off) {
  if (off >= args.size) throw RayException("ray: task arguments are truncated");
  const unsigned char tag = static_cast<unsigned char>(args.data[off++]);
  if (tag == kValueArg) return UnpackAt<D>(args.data, args.size, off);
  if (tag != kRefArg || args.size - off < 8) throw RayException("ray: task arguments are corrupt");
  std::uint64_t id = 0;
  std::memcpy(&id, args.data + off, 8);
  off += 8;
  const backend::Bytes b = backend::Resolve(call, id);
  std::size_t at = 0;
  D value = UnpackAt<D>(b.data, b.size, at);
  if (at != b.size) throw RayException("ray: an ObjectRef argument holds a longer value than its parameter's type");
  return value;
}

/// A parameter taken by value or && gets the decoded value moved in; a & parameter the lvalue.
template <class P, class D>
decltype(auto) PassArg(D& d) {
  if constexpr (std::is_lvalue_reference_v<P>)
    return static_cast<D&>(d);
  else
    return static_cast<D&&>(d);
}

/// Decodes a call's arguments in parameter order, then lets the body run (BeforeBody).
template <class... P>
std::tuple<std::decay_t<P>...> DecodeArgs(shmray::detail::TaskCall& call) {
  const backend::Bytes in = backend::TaskArgs(call);
  std::size_t off = 0;
  // Braced initialisation evaluates the decoders left to right, in parameter order.
  std::tuple<std::decay_t<P>...> args{DecodeArg<std::decay_t<P>>(call, in, off)...};
  if (off != in.size) throw RayException("ray: task arguments have trailing bytes");
  backend::BeforeBody(call);
  return args;
}

/// Runs `body` (what the function or method returns) and stores its msgpack result.
template <class R, class Body>
void StoreResult(shmray::detail::TaskCall& call, Body&& body) {
  if constexpr (std::is_void_v<R>) {
    body();
    backend::SetResult(call, backend::Payload{});
  } else {
    const R result = body();
    std::vector<std::uint64_t> handles;
    backend::SetResult(call, MakePayload(result, handles));
  }
}

/// Runs in a worker: decodes the arguments in order, calls, stores the msgpack result.
/// What the function throws goes up to shmray, which records its type and message.
template <class R, class... P>
void Invoke(backend::AnyFn fn, shmray::detail::TaskCall& call) {
  auto f = reinterpret_cast<R (*)(P...)>(fn);
  auto args = DecodeArgs<P...>(call);
  StoreResult<R>(call, [&]() -> R { return std::apply([&](auto&... a) -> R { return f(PassArg<P>(a)...); }, args); });
}

template <class R, class... P>
constexpr bool CheckRemoteSignature() {
  static_assert(((!is_object_ref_v<P>)&&...),
                "RAY_REMOTE: a remote function cannot take an ObjectRef<T> parameter (Ray's cluster mode "
                "rejects it too): declare the parameter as T and pass the ObjectRef<T>; it is resolved to "
                "its value before the call");
  static_assert((CheckSerializable<std::decay_t<P>>() && ...));
  if constexpr (!std::is_void_v<R>) {
    static_assert(!std::is_reference_v<R>, "RAY_REMOTE: a remote function returns by value");
    static_assert(CheckSerializable<R>());
  }
  return true;
}

/// How RAY_REMOTE registers one item, by its type: free functions here, actor factories
/// and member functions in actor_remote.h.
template <class F, class = void>
struct Registrar {
  static_assert(dependent_false_v<F>,
                "RAY_REMOTE: register free functions, actor factories (T* Create(...)) and member functions "
                "(&T::Method)");
  static bool Run(const std::string&, F) { return false; }
};
template <class R, class... P>
struct Registrar<R (*)(P...)> {
  static bool Run(const std::string& name, R (*fn)(P...)) {
    static_assert(CheckRemoteSignature<R, P...>());
    return backend::Register(name.c_str(), reinterpret_cast<backend::AnyFn>(fn), &Invoke<R, P...>,
                             typeid(R(*)(P...)).name());
  }
};

/// "f, RAY_FUNC(g, int, double), &h" -> each name ("f", "g", "h"), split at top-level commas.
std::vector<std::string> SplitRemoteNames(const char* spelled);

template <class... F>
bool RegisterRemoteFunctions(const char* spelled, F... fns) {
  const std::vector<std::string> names = SplitRemoteNames(spelled);
  std::size_t i = 0;
  return (Registrar<F>::Run(i < names.size() ? names[i++] : std::string("?"), fns) && ...);
}

/// RAY_FUNC(f, Args...): the overload of f whose parameters are exactly Args.
template <class... Args>
struct OverloadOf {
  template <class R>
  static constexpr auto Of(R (*f)(Args...)) {
    return f;
  }
};

}  // namespace internal
}  // namespace ray

#define RAY_INTERNAL_CONCAT_IMPL(a, b) a##b
#define RAY_INTERNAL_CONCAT(a, b) RAY_INTERNAL_CONCAT_IMPL(a, b)
/// Registers each function before main runs. Use at namespace scope, once per function.
#define RAY_REMOTE(...)                                                                         \
  [[maybe_unused]] static const bool RAY_INTERNAL_CONCAT(ray_remote_registered_, __COUNTER__) = \
      ::ray::internal::RegisterRemoteFunctions(#__VA_ARGS__, __VA_ARGS__)
/// One overload of a function: RAY_FUNC(f, int, double). Use the same spelling in
/// RAY_REMOTE and in ray::Task.
#define RAY_FUNC(f, ...) ::ray::internal::OverloadOf<__VA_ARGS__>::Of(f)
