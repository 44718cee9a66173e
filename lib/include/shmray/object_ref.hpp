#pragma once
/// @file object_ref.hpp
/// ObjectRef<T>: a cheap, copyable future for a value in the shared object store.
#include <cstddef>
#include <functional>
#include <future>
#include <ostream>
#include <string>
#include <type_traits>
#include <utility>
#include "shmray/detail/config.hpp"

#include "shmray/detail/codec.hpp"
#include "shmray/detail/object_id.hpp"
#include "shmray/detail/ref_handle.hpp"

namespace shmray {

/// A handle to an object in the store, valid in every process of the pool. While any copy
/// exists anywhere (driver, worker, a queued task's argument, inside another object) the
/// object stays; after the last copy is gone its memory is reused.
/// @code
/// shmray::ObjectRef<int> r = shmray::task(square).remote(3);
/// std::cout << r << " = " << r.get() << "\n";   // ObjectRef(00..) = 9
/// @endcode
template <class T>
class ObjectRef {
 public:
  /// The type get() returns.
  using value_type = T;

  /// An empty ref (false; get() on it throws std::invalid_argument).
  ObjectRef() noexcept = default;
  /// Another reference to the same object.
  ObjectRef(const ObjectRef& o) noexcept : h_(o.h_) { detail::retain(h_); }
  /// Takes over `o`'s reference; `o` is empty after.
  ObjectRef(ObjectRef&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
  /// Drops this ref's reference and refers to `o`'s object instead.
  ObjectRef& operator=(const ObjectRef& o) noexcept {
    detail::retain(o.h_);  // first: `o` may be this very ref
    detail::drop(std::exchange(h_, o.h_));
    return *this;
  }
  /// Drops this ref's reference and takes over `o`'s; `o` is empty after.
  ObjectRef& operator=(ObjectRef&& o) noexcept {
    if (this != &o) detail::drop(std::exchange(h_, std::exchange(o.h_, nullptr)));
    return *this;
  }
  ~ObjectRef() { detail::drop(h_); }

  /// Same as shmray::get(*this): blocks until the value is there.
  T get() const;
  /// A std::future of the value, set when the object is final (`<shmray/future.hpp>`).
  std::future<T> to_future() const;
  /// The object's id as 16 hex digits.
  std::string hex() const { return id().hex(); }
  /// The object's id (zero for a default-constructed ref).
  detail::ObjectId id() const noexcept { return h_ ? h_->id : detail::ObjectId{}; }
  /// Internal: the id, after checking the ref is set and belongs to the running runtime.
  detail::ObjectId checked_id(const char* what) const { return detail::checked_id(h_, what); }
  /// Internal: as checked_id(what), with `live` from detail::live_generation() (for lists).
  detail::ObjectId checked_id(const char* what, std::uint64_t live) const { return detail::checked_id(h_, live, what); }
  /// False for a default-constructed (or moved-from) ref.
  explicit operator bool() const noexcept { return h_ != nullptr; }

  /// Same object of the same runtime (ids repeat after shutdown()/init()).
  friend bool operator==(const ObjectRef& a, const ObjectRef& b) noexcept {
    return a.id() == b.id() && (a.h_ ? a.h_->runtime : 0) == (b.h_ ? b.h_->runtime : 0);
  }
  /// Orders by id (for std::set and std::map).
  friend bool operator<(const ObjectRef& a, const ObjectRef& b) noexcept { return a.id().value < b.id().value; }
  /// Prints `ObjectRef(` and hex() and `)`.
  friend std::ostream& operator<<(std::ostream& os, const ObjectRef& r) { return os << "ObjectRef(" << r.hex() << ")"; }

  /// cereal: a ref is stored as its id (and, inside a stored value, keeps its object alive).
  template <class Archive>
  void save(Archive& ar) const {
    const detail::ObjectId id = h_ ? checked_id("serializing an ObjectRef") : detail::ObjectId{};
    ar(id.value);
    if constexpr (std::is_same_v<Archive, detail::OutArchive>) {
      if (h_) ar.note_ref(id);
    }
  }
  /// cereal: reads the id and takes a new reference to that object.
  template <class Archive>
  void load(Archive& ar) {
    std::uint64_t raw = 0;
    ar(raw);
    ObjectRef fresh;
    if (raw != 0) fresh.h_ = detail::acquire_ref(detail::ObjectId{raw});
    *this = std::move(fresh);
  }

  /// Internal: wraps an id whose reference the caller owns.
  static ObjectRef adopt(detail::ObjectId id) {
    ObjectRef r;
    r.h_ = detail::adopt_ref(id);
    return r;
  }
  /// Internal: takes a new reference to `id`.
  static ObjectRef acquire(detail::ObjectId id) {
    ObjectRef r;
    r.h_ = detail::acquire_ref(id);
    return r;
  }

 private:
  detail::RefHandle* h_ = nullptr;
};

namespace detail {
/// True when T is Tpl<U> for some U (then `inner` is U): the one test behind is_object_ref
/// and is_view (traits.hpp).
template <template <class> class Tpl, class T>
struct specialization_of : std::false_type {};
template <template <class> class Tpl, class U>
struct specialization_of<Tpl, Tpl<U>> : std::true_type {
  using inner = U;
};
template <class T>
using is_object_ref = specialization_of<ObjectRef, T>;
template <class T>
inline constexpr bool is_object_ref_v = is_object_ref<std::remove_cvref_t<T>>::value;
}  // namespace detail

}  // namespace shmray

/// Hashes the id, for std::unordered_set and std::unordered_map.
template <class T>
struct std::hash<shmray::ObjectRef<T>> {
  /// The hash of r.id().
  std::size_t operator()(const shmray::ObjectRef<T>& r) const noexcept {
    return std::hash<shmray::detail::ObjectId>{}(r.id());
  }
};
