#pragma once
/// @file buffer.hpp
/// Buffer<T>: an array written straight into the object store, so a large result (or put)
/// needs no copy. Readers see it as a std::vector<T>.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <vector>
#include "shmray/detail/config.hpp"

#include "shmray/detail/runtime_api.hpp"

namespace shmray::detail {
/// ObjectStoreFullError: `n` elements of `element_bytes` take more bytes than a size_t holds.
[[noreturn]] SHMRAY_API void throw_buffer_too_large(std::size_t n, std::size_t element_bytes);
}  // namespace shmray::detail

namespace shmray {

/// `n` elements of T in the shared object store, writable by the process that made it.
/// Return it from a remote function (the task's ObjectRef is an ObjectRef<std::vector<T>>)
/// or pass it to put(): the bytes become the object where they are, without a copy.
/// @code
/// shmray::Buffer<double> make(std::size_t n) {
///   shmray::Buffer<double> b(n);
///   for (std::size_t i = 0; i < n; ++i) b[i] = double(i);
///   return b;
/// }
/// SHMRAY_REMOTE(make);   // task(make).remote(n) is an ObjectRef<std::vector<double>>
/// @endcode
template <class T>
class Buffer {
  static_assert(std::is_arithmetic_v<T> || std::is_enum_v<T>, "shmray::Buffer<T>: T must be arithmetic or an enum");
  static_assert(alignof(T) <= 8, "shmray::Buffer<T>: elements aligned to more than 8 bytes");

 public:
  /// The element type.
  using value_type = T;
  /// What a ref to it reads as.
  using stored_type = std::vector<T>;

  /// Takes room for `n` elements in the store (their values are unspecified until written);
  /// waits for space like put(), then throws ObjectStoreFullError. ObjectStoreFullError at
  /// once, before anything is allocated, when `n` elements could never fit in the store.
  explicit Buffer(std::size_t n) : size_(n) {
    const std::uint64_t prefix = n;
    if (n > (SIZE_MAX - kPrefix) / sizeof(T)) detail::throw_buffer_too_large(n, sizeof(T));  // n * sizeof(T) overflows
    detail::RuntimeCall rt;
    block_ = rt->allocate_block(kPrefix + n * sizeof(T), &base_);
    runtime_ = detail::runtime_generation();
    std::memcpy(base_, &prefix, kPrefix);  // the size prefix of cereal's vector format
  }
  /// Takes over `o`'s elements; `o` is empty after (size 0, nothing to free).
  Buffer(Buffer&& o) noexcept
      : block_(std::exchange(o.block_, 0)),
        base_(std::exchange(o.base_, nullptr)),
        size_(std::exchange(o.size_, 0)),
        runtime_(o.runtime_) {}
  /// Frees this buffer's elements (unless released) and takes over `o`'s; `o` is empty after.
  Buffer& operator=(Buffer&& o) noexcept {
    if (this != &o) {
      reset();
      block_ = std::exchange(o.block_, 0);
      base_ = std::exchange(o.base_, nullptr);
      size_ = std::exchange(o.size_, 0);
      runtime_ = o.runtime_;
    }
    return *this;
  }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer() { reset(); }

  ///@{
  /// The elements where they lie in the store, as a std::span<T> gives them (no bounds
  /// checks); none after a move or release().
  T* data() noexcept { return reinterpret_cast<T*>(static_cast<std::byte*>(base_) + kPrefix); }
  const T* data() const noexcept { return reinterpret_cast<const T*>(static_cast<const std::byte*>(base_) + kPrefix); }
  std::size_t size() const noexcept { return size_; }
  std::span<T> span() noexcept { return {data(), size_}; }
  T& operator[](std::size_t i) noexcept { return data()[i]; }
  const T& operator[](std::size_t i) const noexcept { return data()[i]; }
  T* begin() noexcept { return data(); }
  T* end() noexcept { return data() + size_; }
  ///@}

  /// Internal: hands the block over (it becomes an object); the buffer is empty after.
  /// std::invalid_argument for an empty buffer or one from before shutdown()/init().
  detail::ValueBlock release() {
    if (!block_ || runtime_ != detail::runtime_generation())
      throw std::invalid_argument(
          "shmray::Buffer: empty (moved from or released), or from a runtime that was shut down");
    detail::ValueBlock b{std::exchange(block_, 0), kPrefix + size_ * sizeof(T)};
    base_ = nullptr;
    size_ = 0;
    return b;
  }

 private:
  static constexpr std::size_t kPrefix = sizeof(std::uint64_t);
  void reset() noexcept {
    if (block_) detail::free_block_noexcept(std::exchange(block_, 0), runtime_);
  }
  std::uint64_t block_ = 0;
  void* base_ = nullptr;
  std::size_t size_ = 0;
  std::uint64_t runtime_ = 0;
};

namespace detail {
template <class T>
struct is_buffer : std::false_type {};
template <class T>
struct is_buffer<Buffer<T>> : std::true_type {};
/// The type an ObjectRef to a result of type R reads as (Buffer<T> reads as vector<T>).
template <class R>
struct stored {
  using type = R;
};
template <class T>
struct stored<Buffer<T>> {
  using type = std::vector<T>;
};
template <class R>
using stored_t = typename stored<R>::type;
}  // namespace detail

}  // namespace shmray
