#pragma once
/// @file view.hpp
/// View<T>: a zero-copy, read-only look at a contiguous object where it lies in the store.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <type_traits>
#include <vector>
#include "shmray/detail/config.hpp"

#include "shmray/object_ref.hpp"

namespace shmray {

namespace detail {
template <class T>
struct view_traits {
  static constexpr bool supported = false;
};
template <class E, class A>
struct view_traits<std::vector<E, A>> {
  static constexpr bool supported = true;
  static constexpr bool size_prefixed = true;
  using element = E;
};
template <class E, std::size_t N>
struct view_traits<std::array<E, N>> {
  static constexpr bool supported = true;
  static constexpr bool size_prefixed = false;
  static constexpr std::size_t count = N;
  using element = E;
};
template <class C, class Tr, class A>
struct view_traits<std::basic_string<C, Tr, A>> {
  static constexpr bool supported = true;
  static constexpr bool size_prefixed = true;
  using element = C;
};
[[noreturn]] SHMRAY_API void throw_view_mismatch();
}  // namespace detail

/// Read-only span over an object stored as a std::vector or std::array of arithmetic or
/// enum elements, or a std::string; keeps the object alive while it lives.
/// @code
/// auto ref = shmray::put(std::vector<double>(1 << 20, 1.0));
/// shmray::View<std::vector<double>> v = shmray::get_view(ref);
/// double sum = std::accumulate(v.begin(), v.end(), 0.0);
/// @endcode
template <class T>
class View {
  using Traits = detail::view_traits<T>;
  static_assert(Traits::supported, "shmray::View<T>: T must be std::vector, std::array or std::basic_string");

 public:
  /// The element type, const: a view only reads.
  using element_type = const typename Traits::element;
  static_assert(std::is_arithmetic_v<typename Traits::element> || std::is_enum_v<typename Traits::element>,
                "shmray::View<T>: elements must be arithmetic or enums: only those are stored as raw bytes");
  static_assert(alignof(typename Traits::element) <= 8, "shmray::View<T>: elements aligned to more than 8 bytes");

  /// Internal (get_view() and View parameters make views): SerializationError when `bytes`
  /// do not have T's stored layout.
  View(ObjectRef<T> ref, std::span<const std::byte> bytes) : ref_(std::move(ref)) {
    using E = typename Traits::element;
    std::size_t n = 0;
    if constexpr (Traits::size_prefixed) {
      std::uint64_t prefix = 0;
      if (bytes.size() < sizeof prefix) detail::throw_view_mismatch();
      std::memcpy(&prefix, bytes.data(), sizeof prefix);
      bytes = bytes.subspan(sizeof prefix);
      if (prefix != bytes.size() / sizeof(E)) detail::throw_view_mismatch();
      n = static_cast<std::size_t>(prefix);
    } else {
      n = Traits::count;
    }
    if (bytes.size() != n * sizeof(E) || reinterpret_cast<std::uintptr_t>(bytes.data()) % alignof(E) != 0)
      detail::throw_view_mismatch();
    data_ = reinterpret_cast<const E*>(bytes.data());
    size_ = n;
  }

  ///@{
  /// The elements where they lie in the store, as a std::span gives them (no bounds checks).
  std::span<element_type> span() const { return {data_, size_}; }
  element_type* data() const { return data_; }
  std::size_t size() const { return size_; }
  element_type* begin() const { return data_; }
  element_type* end() const { return data_ + size_; }
  element_type& operator[](std::size_t i) const { return data_[i]; }
  ///@}
  /// The ref the view holds: the object stays while the view lives.
  const ObjectRef<T>& ref() const { return ref_; }

 private:
  ObjectRef<T> ref_;
  element_type* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace shmray
