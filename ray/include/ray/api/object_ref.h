#pragma once
/// @file object_ref.h
/// ray::ObjectRef<T>: a future of a task's result or a put value. Copies share one
/// process-local reference (a shared_ptr); a move hands it over without touching any count,
/// so neither can free the object while a ref names it.
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include <ray/api/backend.h>
#include <ray/api/ray_exception.h>
#include <ray/api/serializer.h>

namespace ray {

template <class T>
class ObjectRef;

namespace internal {

/// The one runtime reference behind every copy of an ObjectRef.
class RefState {
 public:
  /// Takes over the reference `id` carries (from Submit or Put).
  explicit RefState(std::uint64_t id) noexcept : id_(id), generation_(backend::AdoptRef(id)) {}
  ~RefState() { backend::DropRef(id_, generation_); }
  RefState(const RefState&) = delete;
  RefState& operator=(const RefState&) = delete;
  std::uint64_t id() const { return id_; }
  std::uint64_t generation() const { return generation_; }
  /// Made on first use: most refs never have their ID() read (one allocation less per task).
  const std::string& hex() const {
    std::call_once(hex_once_, [this] { hex_ = backend::Hex(id_); });
    return hex_;
  }

 private:
  std::uint64_t id_;
  std::uint64_t generation_;
  mutable std::once_flag hex_once_;
  mutable std::string hex_;
};

template <class T>
struct is_object_ref : std::false_type {};
template <class T>
struct is_object_ref<ObjectRef<T>> : std::true_type {
  using inner = T;
};
template <class T>
inline constexpr bool is_object_ref_v = is_object_ref<std::remove_cv_t<std::remove_reference_t<T>>>::value;

/// Ray's FilterArgType: an ObjectRef<T> argument stands for a T.
template <class T>
struct FilterArgType {
  using type = T;
};
template <class T>
struct FilterArgType<ObjectRef<T>> {
  using type = T;
};

/// Base of ObjectRef<T> and ObjectRef<void>: the reference and the id.
class ObjectRefBase {
 public:
  /// Ray's untyped id of the object (here 16 hex digits); empty for a default ref.
  const std::string& ID() const {
    static const std::string kEmpty;
    return state_ ? state_->hex() : kEmpty;
  }
  /// Same object (two empty refs are equal).
  bool SameObject(const ObjectRefBase& other) const {
    return (state_ ? state_->id() : 0) == (other.state_ ? other.state_->id() : 0);
  }
  /// The runtime id; throws RayException for a default-constructed ref, or one made before
  /// the last ray::Shutdown() (its id may name another object of the new pool).
  std::uint64_t RawId() const {
    if (!state_) throw RayException("ray: this ObjectRef is empty (default-constructed or moved from)");
    return backend::CheckedId(state_->id(), state_->generation());
  }

 protected:
  ObjectRefBase() = default;
  explicit ObjectRefBase(std::shared_ptr<const RefState> s) : state_(std::move(s)) {}
  std::shared_ptr<const RefState> state_;
};

template <class T>
ObjectRef<T> MakeRef(std::uint64_t id);

}  // namespace internal

template <class T>
class ObjectRef : public internal::ObjectRefBase {
 public:
  ObjectRef() = default;
  /// Ray's check for "is this an ObjectRef" (used by its argument code).
  static bool IsObjectRef() { return true; }
  bool operator==(const ObjectRef<T>& other) const { return SameObject(other); }
  bool operator!=(const ObjectRef<T>& other) const { return !(*this == other); }

  /// Waits for the value; throws RayTaskException / RayWorkerException.
  std::shared_ptr<T> Get() const { return internal::Unpack<T>(internal::backend::Fetch(RawId(), -1)); }
  /// As Get(), giving up after `timeout_ms` milliseconds with RayTimeoutException.
  std::shared_ptr<T> Get(const int& timeout_ms) const {
    return internal::Unpack<T>(internal::backend::Fetch(RawId(), timeout_ms));
  }

 private:
  friend ObjectRef<T> internal::MakeRef<T>(std::uint64_t);
  using internal::ObjectRefBase::ObjectRefBase;
};

/// The result of a void task: Get() only waits (and throws what the task threw).
template <>
class ObjectRef<void> : public internal::ObjectRefBase {
 public:
  ObjectRef() = default;
  static bool IsObjectRef() { return true; }
  bool operator==(const ObjectRef<void>& other) const { return SameObject(other); }
  bool operator!=(const ObjectRef<void>& other) const { return !(*this == other); }
  void Get() const { internal::backend::Fetch(RawId(), -1); }
  void Get(const int& timeout_ms) const { internal::backend::Fetch(RawId(), timeout_ms); }

 private:
  friend ObjectRef<void> internal::MakeRef<void>(std::uint64_t);
  using internal::ObjectRefBase::ObjectRefBase;
};

namespace internal {
/// The state for an id whose reference the caller owns. If making it fails, the reference
/// is given back (never leaked).
inline std::shared_ptr<const RefState> AdoptState(std::uint64_t id) {
  try {
    return std::make_shared<const RefState>(id);
  } catch (...) {
    backend::DropRef(id, backend::AdoptRef(id));
    throw;
  }
}
/// Wraps an id whose reference the caller owns.
template <class T>
ObjectRef<T> MakeRef(std::uint64_t id) {
  return ObjectRef<T>(AdoptState(id));
}
}  // namespace internal

}  // namespace ray
