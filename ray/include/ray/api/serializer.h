#pragma once
/// @file serializer.h
/// msgpack in and out of the object store: a value is packed twice (once to count its
/// bytes, once straight into the store), and read back referencing the stored bytes.
#include <array>
#include <cstring>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <msgpack.hpp>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include <ray/api/backend.h>
#include <ray/api/ray_exception.h>

namespace ray {
namespace internal {

template <class>
inline constexpr bool dependent_false_v = false;

// ---- which types msgpack can carry: checked up front, for a message that says what to do.
template <class T, class = void>
struct has_msgpack_members : std::false_type {};
template <class T>
struct has_msgpack_members<
    T, std::void_t<decltype(std::declval<T&>().msgpack_unpack(std::declval<const msgpack::object&>()))>>
    : std::true_type {};

template <class T>
struct is_serializable;
template <class T>
inline constexpr bool is_serializable_v = is_serializable<std::remove_cv_t<T>>::value;

template <class T>
struct is_serializable
    : std::bool_constant<std::is_arithmetic_v<T> || std::is_enum_v<T> || has_msgpack_members<T>::value> {};
template <>
struct is_serializable<std::string> : std::true_type {};
template <>
struct is_serializable<msgpack::type::nil_t> : std::true_type {};
template <class T, class A>
struct is_serializable<std::vector<T, A>> : is_serializable<T> {};
template <class T, class A>
struct is_serializable<std::list<T, A>> : is_serializable<T> {};
template <class T, class A>
struct is_serializable<std::deque<T, A>> : is_serializable<T> {};
template <class T, std::size_t N>
struct is_serializable<std::array<T, N>> : is_serializable<T> {};
template <class T>
struct is_serializable<std::optional<T>> : is_serializable<T> {};
template <class K, class C, class A>
struct is_serializable<std::set<K, C, A>> : is_serializable<K> {};
template <class K, class H, class E, class A>
struct is_serializable<std::unordered_set<K, H, E, A>> : is_serializable<K> {};
template <class K, class V, class C, class A>
struct is_serializable<std::map<K, V, C, A>> : std::bool_constant<is_serializable_v<K> && is_serializable_v<V>> {};
template <class K, class V, class H, class E, class A>
struct is_serializable<std::unordered_map<K, V, H, E, A>>
    : std::bool_constant<is_serializable_v<K> && is_serializable_v<V>> {};
template <class A, class B>
struct is_serializable<std::pair<A, B>> : std::bool_constant<is_serializable_v<A> && is_serializable_v<B>> {};
template <class... T>
struct is_serializable<std::tuple<T...>> : std::bool_constant<(is_serializable_v<T> && ...)> {};

/// Types with a msgpack adaptor of their own (msgpack::adaptor::pack/convert specialised)
/// opt in here: `template <> struct ray::internal::is_serializable<MyType> : std::true_type {};`
template <class T>
constexpr bool CheckSerializable() {
  static_assert(is_serializable_v<T>,
                "ray: this type cannot be serialized with msgpack. Add MSGPACK_DEFINE(member, ...) to the "
                "struct (as with Ray), or specialise ray::internal::is_serializable for a type with a "
                "msgpack adaptor of its own");
  return true;
}

// ---- streams for msgpack::packer
struct CountingStream {
  std::size_t n = 0;
  void write(const char*, std::size_t k) { n += k; }
};
struct SpanStream {
  char* pos;
  char* end;
  void write(const char* d, std::size_t k) {
    if (k > static_cast<std::size_t>(end - pos)) throw RayException("ray: a value grew between sizing and writing");
    if (k) std::memcpy(pos, d, k);
    pos += k;
  }
};
struct StringStream {
  std::string* out;
  void write(const char* d, std::size_t k) { out->append(d, k); }
};

/// While set on a thread, each ActorHandle packed there adds its actor's id to this list:
/// the task or stored object the bytes go to then holds the actor (actor_handle.h).
inline std::vector<std::uint64_t>*& HandleSink() {
  static thread_local std::vector<std::uint64_t>* sink = nullptr;
  return sink;
}
/// Points HandleSink at `into` for its lifetime.
class CollectHandles {
 public:
  explicit CollectHandles(std::vector<std::uint64_t>* into) : prev_(HandleSink()) { HandleSink() = into; }
  ~CollectHandles() { HandleSink() = prev_; }
  CollectHandles(const CollectHandles&) = delete;
  CollectHandles& operator=(const CollectHandles&) = delete;

 private:
  std::vector<std::uint64_t>* prev_;
};

/// `v` as a Payload: `v` and `contained` must outlive the call the payload is given to.
/// The sizing pass records the ActorHandles inside `v` in `contained`.
template <class T>
backend::Payload MakePayload(const T& v, std::vector<std::uint64_t>& contained) {
  CountingStream count;
  {
    CollectHandles collect(&contained);
    msgpack::packer<CountingStream>(count).pack(v);
  }
  return backend::Payload{count.n,
                          [](const void* ctx, char* into, std::size_t n) {
                            SpanStream s{into, into + n};
                            CollectHandles none(nullptr);  // counted once, in the sizing pass
                            msgpack::packer<SpanStream>(s).pack(*static_cast<const T*>(ctx));
                          },
                          &v, &contained};
}

/// Referencing the input keeps large strings and binaries from being copied into the zone:
/// they are copied once, into the result.
inline bool ReferenceInput(msgpack::type::object_type, std::size_t, void*) { return true; }

/// Reads one msgpack object at `*off` and converts it to T. No count may exceed the bytes
/// left (every element takes at least one): a short payload claiming 2^31 elements would
/// otherwise have msgpack allocate for all of them before it finds the bytes missing.
template <class T>
T UnpackAt(const char* data, std::size_t size, std::size_t& off) {
  const std::size_t left = size > off ? size - off : 0;
  const std::size_t n = left < 0xffffffffu ? left : 0xffffffffu;
  const msgpack::unpack_limit limit(n, n, n, n, n);
  msgpack::object_handle oh = msgpack::unpack(data, size, off, &ReferenceInput, nullptr, limit);
  return oh.get().as<T>();
}

/// A stored value, whole.
template <class T>
std::shared_ptr<T> Unpack(backend::Bytes b) {
  std::size_t off = 0;
  auto value = std::make_shared<T>(UnpackAt<T>(b.data, b.size, off));
  if (off != b.size)
    throw RayException("ray: the stored value is longer than its type (an ObjectRef<T> of the wrong T?)");
  return value;
}

}  // namespace internal
}  // namespace ray
